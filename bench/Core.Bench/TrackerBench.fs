/// What the leader does per acknowledgement: commit computation over the voters' Match, inflight
/// window bookkeeping and progress updates.
/// Run: `dotnet run -c Release --project bench/Core.Bench -- --filter '*TrackerBench*'`
module Raft.Core.Bench.TrackerBench

open BenchmarkDotNet.Attributes
open Raft.Core

let private trackerOf (voters: int) =
    let ids = [ 1UL .. uint64 voters ]
    let prs =
        ids
        |> List.map (fun id -> id, { Progress.create 256 1UL false with Match = id * 10UL; RecentActive = true })
        |> Map.ofList
    { ProgressTracker.make 256 with
        Config = { TrackerConfig.empty with Voters = JointConfig.ofIncoming (MajorityConfig.ofSeq ids) }
        Progress = prs }

[<MemoryDiagnoser>]
type Committed() =
    let mutable tracker = ProgressTracker.make 256

    /// Voters in the config (up to 7 sort on the stack).
    [<Params(3, 5, 9)>]
    member val Voters = 3 with get, set

    [<GlobalSetup>]
    member this.Setup() = tracker <- trackerOf this.Voters

    [<Benchmark>]
    member _.CommittedIndex() = ProgressTracker.committed tracker

    [<Benchmark>]
    member _.QuorumActive() = ProgressTracker.quorumActive tracker

[<MemoryDiagnoser>]
type InflightsWindow() =
    let full = Seq.fold (fun ins i -> Inflights.add i ins) (Inflights.create 256) [ 1UL .. 256UL ]

    /// Steady replication: one append goes out, the oldest is acknowledged (256 times).
    [<Benchmark(OperationsPerInvoke = 256)>]
    member _.AddThenFreeOne() =
        let mutable ins = full
        for i in 257UL .. 512UL do
            ins <- Inflights.add i (Inflights.freeLE (i - 256UL) ins)
        ins

    /// Fill an empty window of 256 and free it with one acknowledgement.
    [<Benchmark(OperationsPerInvoke = 256)>]
    member _.FillThenFreeAll() =
        let mutable ins = Inflights.create 256
        for i in 1UL .. 256UL do
            ins <- Inflights.add i ins
        Inflights.freeLE 256UL ins

[<MemoryDiagnoser>]
type ProgressUpdate() =
    let tracker = trackerOf 5 |> ProgressTracker.mapProgress (fun _ pr -> Progress.becomeReplicate pr)

    /// A MsgAppResp in StateReplicate: MaybeUpdate, free the inflights, store the progress, commit.
    [<Benchmark>]
    member _.AppRespToCommit() =
        let t =
            ProgressTracker.updateProgress
                2UL
                (fun pr ->
                    let _, pr = Progress.maybeUpdate (pr.Match + 1UL) pr
                    { pr with Inflights = Inflights.freeLE pr.Match pr.Inflights })
                tracker
        ProgressTracker.committed t
