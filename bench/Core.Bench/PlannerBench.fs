/// Cost of planning one Ready: negligible next to the fsync the plan usually contains.
module Raft.Core.Bench.PlannerBench

open System
open BenchmarkDotNet.Attributes
open Raft.Core

let private entries term first count =
    Array.init count (fun i -> { Term = term; Index = first + uint64 i; Type = EntryNormal; Data = Array.zeroCreate 128 })

/// A leader of three with `count` new entries: committed entries before them, a MsgApp to each
/// follower carrying the new entries, a heartbeat each.
let leaderReady count : Ready =
    let ents = entries 2UL 101UL count
    let app target =
        { Pb.emptyMessage with Type = MsgApp; From = 1UL; To = target; Term = 2UL; LogTerm = 2UL; Index = 100UL; Commit = 100UL; Entries = ents }
    let beat target = { Pb.emptyMessage with Type = MsgHeartbeat; From = 1UL; To = target; Term = 2UL; Commit = 100UL }
    { Pb.emptyReady with
        HardState = { Term = 2UL; Vote = 1UL; Commit = 100UL }
        Entries = ents
        CommittedEntries = entries 2UL (101UL - uint64 count) count
        Messages = [| app 2UL; app 3UL; beat 2UL; beat 3UL |]
        MustSync = true }

/// A follower that appends `count` entries, commits as many earlier ones and acks.
let followerReady count : Ready =
    { Pb.emptyReady with
        HardState = { Term = 2UL; Vote = 1UL; Commit = 100UL }
        Entries = entries 2UL 101UL count
        CommittedEntries = entries 2UL (101UL - uint64 count) count
        Messages = [| { Pb.emptyMessage with Type = MsgAppResp; From = 2UL; To = 1UL; Term = 2UL; Index = 100UL + uint64 count } |]
        MustSync = true }

let private input ready : PlanInput =
    { Ready = ready
      IsRemoved = fun _ -> false
      Now = TimeSpan.FromSeconds 10.0
      HeartbeatInterval = TimeSpan.FromMilliseconds 100.0 }

[<MemoryDiagnoser>]
type PlannerBench() =
    // The heartbeat detector has seen both followers recently, as in a steady state.
    let state =
        { Planner.initial with
            Lead = 1UL
            IsLeader = true
            LastHeartbeat = Map [ 2UL, TimeSpan.FromSeconds 9.95; 3UL, TimeSpan.FromSeconds 9.95 ] }
    let leader1 = input (leaderReady 1)
    let leader64 = input (leaderReady 64)
    let follower1 = input (followerReady 1)
    let follower64 = input (followerReady 64)
    let followerState = { state with IsLeader = false }

    [<Benchmark>]
    member _.Leader1() = Planner.plan leader1 state

    [<Benchmark>]
    member _.Leader64() = Planner.plan leader64 state

    [<Benchmark>]
    member _.Follower1() = Planner.plan follower1 followerState

    [<Benchmark>]
    member _.Follower64() = Planner.plan follower64 followerState
