/// The seeded simulation (Simulation.fs): many seeds of 3- and 5-node clusters keep every safety
/// property, and the checker is shown to catch deliberately broken clusters.
///
/// RAFT_SIM_SEEDS (default 1000) and RAFT_SIM_STEPS (default 500) run more or longer seeds;
/// RAFT_SIM_FIRST_SEED (default 1) moves the range.
module Raft.Core.Tests.SimulationTests

open System
open Expecto
open Raft.Core.Tests.Simulation
open Raft.Core.Tests.SimulationSupport

let private seeds = envInt "RAFT_SIM_SEEDS" 1000
let private steps = envInt "RAFT_SIM_STEPS" 500
let private firstSeed = uint64 (envInt "RAFT_SIM_FIRST_SEED" 1)

/// Odd seeds run 3 nodes, even seeds 5.
let private nodesOf (seed: uint64) = if seed % 2UL = 1UL then 3 else 5

let private runSeed (variant: Variant) (seed: uint64) =
    let nodes = nodesOf seed
    run variant nodes seed (generate nodes steps seed)

/// The first seed (of up to `limit`) on which the variant violates a property.
let private firstFailure (variant: Variant) (limit: int) =
    seq { 1UL .. uint64 limit }
    |> Seq.tryPick (fun seed ->
        match runSeed variant seed with
        | Error v -> Some(seed, v)
        | Ok _ -> None)

[<Tests>]
let tests =
    testList "Simulation" [
        testCase "every seed keeps every safety property" <| fun () ->
            let results =
                [| firstSeed .. firstSeed + uint64 seeds - 1UL |]
                |> Array.Parallel.map (fun seed -> seed, runSeed Correct seed)
            match results |> Array.tryPick (fun (seed, r) -> match r with Error v -> Some(seed, v) | Ok _ -> None) with
            | Some(seed, v) -> failtest (report Correct (nodesOf seed) seed steps v)
            | None -> ()
            // The runs must have exercised what the properties are about, or they prove little.
            let stats = results |> Array.choose (fun (_, r) -> match r with Ok s -> Some s | Error _ -> None)
            let withCommits = stats |> Array.filter (fun s -> s.Committed >= 5) |> Array.length
            // (With the defaults about three quarters of the seeds commit five entries or more and see a
            // second leader; conf changes, snapshots and restarts number in the thousands.)
            Expect.isTrue (withCommits * 100 >= seeds * 65) (sprintf "only %d of %d seeds committed 5 entries" withCommits seeds)
            Expect.isTrue (stats |> Array.filter (fun s -> s.Leaders >= 2) |> Array.length >= seeds / 2) ("too few seeds saw a second leader")
            Expect.isTrue (stats |> Array.sumBy (fun s -> s.ConfChanges) >= seeds) ("too few conf changes applied")
            Expect.isTrue (stats |> Array.sumBy (fun s -> s.Snapshots) >= seeds / 4) ("too few snapshots applied")
            Expect.isTrue (stats |> Array.sumBy (fun s -> s.Restarts) >= seeds) ("too few restarts")

        testCase "the checker catches nodes that forget their vote on restart: two leaders in one term" <| fun () ->
            match firstFailure ForgetsVoteOnRestart 500 with
            | None -> failtest "no seed caught the broken cluster"
            | Some(seed, v) ->
                Expect.equal v.Property ("one leader per term") "v.Property"
                // The same seed is fine with the vote kept.
                Expect.isTrue (Result.isOk (runSeed Correct seed)) "Result.isOk (runSeed Correct seed)"
                // And the failure shrinks to a shorter trace that still shows it.
                let nodes = nodesOf seed
                let trace, sv = shrink ForgetsVoteOnRestart nodes seed (generate nodes steps seed) v.Property
                Expect.isTrue (trace.Length <= v.Step + 1) "trace.Length <= v.Step + 1"
                Expect.equal sv.Step (trace.Length - 1) "sv.Step"
                Expect.isTrue (trace |> Array.exists (function Crash _ -> true | _ -> false)) "trace |> Array.exists (function Crash _ -> true | _ -> false)"
                Expect.isTrue (Result.isOk (run Correct nodes seed trace)) "Result.isOk (run Correct nodes seed trace)"

        testCase "the checker catches voters that ignore the candidate's log: a leader without committed entries" <| fun () ->
            match firstFailure VotesIgnoringLogs 500 with
            | None -> failtest "no seed caught the broken cluster"
            | Some(seed, v) ->
                Expect.contains [ "leader completeness"; "committed entries never change" ] v.Property "the violated property"
                Expect.isTrue (Result.isOk (runSeed Correct seed)) "Result.isOk (runSeed Correct seed)"

        testCase "the checker catches followers that skip the consistency check: logs that do not match" <| fun () ->
            let failures =
                seq { 1UL .. 500UL }
                |> Seq.choose (fun seed ->
                    match runSeed AppendsWithoutConsistencyCheck seed with
                    | Error v -> Some(seed, v)
                    | Ok _ -> None)
            // Mismatched logs sometimes surface first as a changed committed entry; some seed shows the
            // mismatch itself.
            match failures |> Seq.tryFind (fun (_, v) -> v.Property = "log matching") with
            | None -> failtest "no seed caught the broken cluster"
            | Some(seed, _) -> Expect.isTrue (Result.isOk (runSeed Correct seed)) "Result.isOk (runSeed Correct seed)"

        testCase "a run is a function of its seed and events" <| fun () ->
            for seed in 1UL .. 20UL do
                Expect.equal (runSeed Correct seed) (runSeed Correct seed) "runSeed Correct seed"
            Expect.equal (generate 3 50 7UL) (generate 3 50 7UL) "generate 3 50 7UL"
            Expect.notEqual (generate 3 50 8UL) (generate 3 50 7UL) "generate 3 50 8UL"

        testCase "a failure report names the seed and lists the shrunk trace" <| fun () ->
            match firstFailure ForgetsVoteOnRestart 500 with
            | None -> failtest "no seed caught the broken cluster"
            | Some(seed, v) ->
                let text = report ForgetsVoteOnRestart (nodesOf seed) seed steps v
                Expect.stringStarts text (sprintf "seed %d (" seed) "the report starts with the seed"
                Expect.stringContains text "one leader per term" "the report names the property"
                Expect.stringContains text "shortest trace found" "the report has the shrunk trace"
    ]
