/// The whole-node simulation (NodeSimulation.fs): Core's planner and apply planner, interpreted
/// against simulated disks and a simulated network, keep every acknowledged write and every safety
/// property across power losses at any effect boundary; planners rearranged as etcd's older orders
/// are caught.
///
/// RAFT_NODESIM_SEEDS (default 10000) and RAFT_NODESIM_STEPS (default 800) run more or longer seeds;
/// RAFT_NODESIM_FIRST_SEED (default 1) moves the range.
module Raft.Core.Tests.NodeSimulationTests

open System
open Expecto
open Raft.Core
open Raft.Core.Tests.NodeSimulation
open Raft.Core.Tests.SimulationSupport

let private seeds = envInt "RAFT_NODESIM_SEEDS" 10000
let private steps = envInt "RAFT_NODESIM_STEPS" 800
let private firstSeed = uint64 (envInt "RAFT_NODESIM_FIRST_SEED" 1)

let private runSeed (variant: PlannerVariant) (seed: uint64) =
    run (optionsOf variant seed) (generate steps seed)

/// The first seed from 1 (of up to `limit`) on which the variant violates a property.
let private firstFailure (variant: PlannerVariant) (limit: int) =
    seq { 1UL .. uint64 limit }
    |> Seq.tryPick (fun seed ->
        match runSeed variant seed with
        | Error v -> Some(seed, v)
        | Ok _ -> None)

[<Tests>]
let tests =
    testList "NodeSimulation" [
        testCase "every seed keeps every acknowledged write and every safety property" <| fun () ->
            let started = Diagnostics.Stopwatch.StartNew()
            let results =
                [| firstSeed .. firstSeed + uint64 seeds - 1UL |]
                |> Array.Parallel.map (fun seed -> seed, runSeed CorePlanner seed)
            let elapsed = started.Elapsed
            match results |> Array.tryPick (fun (seed, r) -> match r with Error v -> Some(seed, v) | Ok _ -> None) with
            | Some(seed, v) -> failtest (report (optionsOf CorePlanner seed) (generate steps seed) v)
            | None -> ()
            let stats = results |> Array.choose (fun (_, r) -> match r with Ok s -> Some s | Error _ -> None)
            let sum f = stats |> Array.sumBy f
            printfn
                "NodeSimulation: %d seeds x %d steps from seed %d in %.1fs (%.0f seeds/s): %d writes acknowledged, %d reads checked, %d power losses, %d snapshots taken, %d restored, %d snapshot Readys with overlapping entries, %d effects"
                seeds steps firstSeed elapsed.TotalSeconds (float seeds / elapsed.TotalSeconds)
                (sum (fun s -> s.Acknowledged)) (sum (fun s -> s.ReadsChecked)) (sum (fun s -> s.Crashes))
                (sum (fun s -> s.SnapshotsTaken)) (sum (fun s -> s.SnapshotsRestored)) (sum (fun s -> s.SnapshotOverlaps))
                (sum (fun s -> s.Effects))
            // The runs must exercise what the checks are about.
            let withAcks = stats |> Array.filter (fun s -> s.Acknowledged >= 3) |> Array.length
            Expect.isTrue (withAcks * 100 >= seeds * 60) (sprintf "only %d of %d seeds acknowledged 3 writes" withAcks seeds)
            Expect.isTrue (sum (fun s -> s.Crashes) >= seeds) "too few power losses"
            Expect.isTrue (sum (fun s -> s.ReadsChecked) >= seeds) "too few reads checked"
            Expect.isTrue (sum (fun s -> s.SnapshotsRestored) >= seeds / 20) "too few snapshots restored"

        testCase "power loss after any effect of a 3-member run with 20 writes loses nothing acknowledged" <| fun () ->
            let points, failure = enumerateCrashPoints CorePlanner 3 20
            match failure with
            | Some(c, v) -> failtest (report { Variant = CorePlanner; Members = 3; Seed = 1UL; CrashAt = Some c } (scenario 3 20) v)
            | None -> ()
            printfn "NodeSimulation: 3 members, 20 writes: %d crash points, none lost an acknowledged write" points
            Expect.isGreaterThan points 300 "crash points"

        testCase "power loss after any effect of a 1-member run with 20 writes loses nothing acknowledged" <| fun () ->
            let points, failure = enumerateCrashPoints CorePlanner 1 20
            match failure with
            | Some(c, v) -> failtest (report { Variant = CorePlanner; Members = 1; Seed = 1UL; CrashAt = Some c } (scenario 1 20) v)
            | None -> ()
            Expect.isGreaterThan points 60 "crash points"

        testCase "apply before save (etcd 3.5.4) loses an acknowledged write: caught by the crash points" <| fun () ->
            let points, failure = enumerateCrashPoints ApplyBeforeSave 1 20
            match failure with
            | None -> failtest (sprintf "none of %d crash points caught the broken planner" points)
            | Some(c, v) ->
                printfn "NodeSimulation: apply before save caught at crash point %d of %d: %s: %s" c points v.Property v.Detail
                Expect.equal v.Property "acknowledged writes are durable" "the violated property"

        testCase "apply before save (etcd 3.5.4) loses an acknowledged write: caught by random seeds" <| fun () ->
            match firstFailure ApplyBeforeSave 3000 with
            | None -> failtest "no seed caught the broken planner"
            | Some(seed, v) ->
                printfn "NodeSimulation: apply before save caught by seed %d: %s: %s" seed v.Property v.Detail
                Expect.contains [ "acknowledged writes are durable"; "committed entries never change" ] v.Property "the violated property"
                Expect.isTrue (Result.isOk (runSeed CorePlanner seed)) "Core's planner passes the same seed"

        testCase "a snapshot caught up through, with overlapping entries: power loss after any effect loses nothing" <| fun () ->
            let options = { Variant = CorePlanner; Members = 3; Seed = 1UL; CrashAt = None }
            // The scenario does reach the Ready it is about.
            match run options snapshotCatchUpScenario with
            | Ok stats -> Expect.isGreaterThanOrEqual stats.SnapshotOverlaps 1 "Readys with a snapshot and overlapping entries"
            | Error v -> failtest (report options snapshotCatchUpScenario v)
            let points, failure = enumerateCrashPointsOf CorePlanner 3 snapshotCatchUpScenario
            match failure with
            | Some(c, v) -> failtest (report { options with CrashAt = Some c } snapshotCatchUpScenario v)
            | None -> ()
            printfn "NodeSimulation: snapshot catch-up: %d crash points, none lost an acknowledged write" points

        testCase "the snapshot saved after the overlapping entries (etcd issue 10219) is caught by the crash points" <| fun () ->
            let points, failure = enumerateCrashPointsOf SnapshotAfterEntries 3 snapshotCatchUpScenario
            match failure with
            | None -> failtest (sprintf "none of %d crash points caught the broken planner" points)
            | Some(c, v) ->
                printfn "NodeSimulation: snapshot after entries caught at crash point %d of %d: %s: %s" c points v.Property v.Detail
                Expect.equal v.Property "a member restarts from what its disk holds" "the violated property"

        testCase "a WAL replay that keeps entries a later record replaced (etcd 3.5's ReadAll) loses committed entries" <| fun () ->
            match firstFailure StaleWalReplay 10000 with
            | None -> failtest "no seed caught the stale replay"
            | Some(seed, v) ->
                printfn "NodeSimulation: stale WAL replay caught by seed %d: %s: %s" seed v.Property v.Detail
                Expect.contains [ "committed entries never change"; "acknowledged writes are durable"; "one leader per term" ] v.Property "the violated property"
                Expect.isTrue (Result.isOk (runSeed CorePlanner seed)) "the same seed passes with the replay that discards them"

        testCase "a restart reads past a snapshot only the entries the last records wrote" <| fun () ->
            let entry term index = { Term = term; Index = index; Type = EntryNormal; Data = [||] }
            let cs = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] }
            let snap = { Data = [||]; Metadata = { ConfState = cs; Index = 12UL; Term = 3UL } }
            let boot = { Data = [||]; Metadata = { ConfState = cs; Index = 1UL; Term = 1UL } }
            // Term-2 entries 5..15, then term 3 rewrote the log from 5 to 12, then a snapshot at 12.
            let records =
                [ SnapshotRecord(1UL, 1UL)
                  EntriesRecord [| for i in 5UL .. 15UL -> entry 2UL i |]
                  EntriesRecord [| for i in 5UL .. 12UL -> entry 3UL i |]
                  HardStateRecord { Term = 3UL; Vote = 0UL; Commit = 12UL }
                  SnapshotRecord(12UL, 3UL) ]
            let indexes (r: Result<NodeBootstrap.StorageImage, string>) =
                match r with
                | Ok img -> img.Snapshot.Metadata.Index, img.Entries |> Array.map (fun e -> e.Term, e.Index) |> List.ofArray
                | Error e -> failtest e
            Expect.equal (indexes (Disk.recover records [ snap; boot ])) (12UL, []) "the rewritten entries are gone"
            Expect.equal
                (indexes (Disk.recoverWith true records [ snap; boot ]))
                (12UL, [ (2UL, 13UL); (2UL, 14UL); (2UL, 15UL) ])
                "etcd's ReadAll keeps them"

        testCase "reads answered from the local state without ReadIndex are caught stale" <| fun () ->
            match firstFailure LocalReads 2000 with
            | None -> failtest "no seed caught the stale reads"
            | Some(seed, v) ->
                printfn "NodeSimulation: local reads caught by seed %d: %s: %s" seed v.Property v.Detail
                Expect.equal v.Property "reads are linearizable" "the violated property"
                Expect.isTrue (Result.isOk (runSeed CorePlanner seed)) "the same seed passes with ReadIndex"

        testCase "a disk that never fsyncs loses acknowledged writes" <| fun () ->
            match firstFailure SaveWithoutFsync 1000 with
            | None -> failtest "no seed caught the broken disk"
            | Some(seed, v) ->
                printfn "NodeSimulation: no fsync caught by seed %d: %s: %s" seed v.Property v.Detail
                Expect.isTrue (Result.isOk (runSeed CorePlanner seed)) "Core's planner passes the same seed"

        testCase "a run is a function of its seed and events" <| fun () ->
            for seed in 1UL .. 20UL do
                Expect.equal (runSeed CorePlanner seed) (runSeed CorePlanner seed) "runSeed"
            Expect.equal (generate 50 7UL) (generate 50 7UL) "generate"
            Expect.notEqual (generate 50 8UL) (generate 50 7UL) "generate"

        testCase "a failure report names the seed and lists the shrunk trace" <| fun () ->
            match firstFailure ApplyBeforeSave 3000 with
            | None -> failtest "no seed caught the broken planner"
            | Some(seed, v) ->
                let options = optionsOf ApplyBeforeSave seed
                let events = generate steps seed
                let text = report options events v
                Expect.stringStarts text (sprintf "seed %d (" seed) "the report starts with the seed"
                Expect.stringContains text v.Property "the report names the property"
                let trace, sv = shrink options events v.Property
                Expect.isTrue (trace.Length <= events.Length) "the trace is no longer"
                Expect.equal sv.Property v.Property "the shrunk trace fails the same way"
                Expect.isTrue (trace |> Array.exists (function Crash _ -> true | _ -> false)) "the trace has a power loss"
    ]
