/// Throughput of the pure core: proposals through 1 or 3 RawNodes held in memory, messages
/// delivered in process, each Ready handled as a host would (append to storage, set the hard
/// state, advance). Reported per proposal (OperationsPerInvoke).
///
/// Run: `dotnet run -c Release --project bench/Core.Bench -- --filter '*ProposalBench*'`
module Raft.Core.Bench.ProposalBench

open System.Collections.Generic
open BenchmarkDotNet.Attributes
open Raft.Core

/// Bytes of each proposal's payload.
[<Literal>]
let PayloadSize = 256

/// A cluster of RawNodes (ids 1..n, node 1 leads) with an in-process mailbox between them.
type Cluster(n: int) =
    let nodes: RawNode[] =
        Array.init n (fun i ->
            let id = uint64 (i + 1)
            // Every node starts from the same snapshot holding the membership, as etcd's tests do.
            let snap =
                { Data = [||]
                  Metadata =
                    { Index = 1UL
                      Term = 1UL
                      ConfState = { Pb.emptyConfState with Voters = [ 1UL .. uint64 n ] } } }
            let storage =
                match MemoryStorage.applySnapshot snap MemoryStorage.empty with
                | Ok s -> s
                | Error e -> failwith (StorageError.message e)
            RawNode.create { Config.defaults id with MaxInflightMsgs = 256 } storage)
    let mailbox = Queue<Message>()

    member _.Nodes = nodes

    /// Handles one Ready of node k as a host does; returns false when it had none.
    member _.HandleReady(k: int) =
        let rn = nodes[k]
        if not (RawNode.hasReady rn) then
            false
        else
            let struct (rd, rn) = RawNode.ready rn
            let rn = if rd.Entries.Length > 0 then RawNode.appendToStorage rd.Entries rn else rn
            let rn = if Pb.isEmptyHardState rd.HardState then rn else RawNode.setHardState rd.HardState rn
            for m in rd.Messages do
                mailbox.Enqueue m
            // Committed entries would go to the state machine here; these carry no conf changes.
            let rn = RawNode.advance rd rn
            // A host drains the log lines after each step; a steady state writes none.
            nodes[k] <- (let struct (_, rn) = RawNode.drainLogs rn in rn)
            true

    /// Delivers every queued message.
    member _.Deliver() =
        while mailbox.Count > 0 do
            let m = mailbox.Dequeue()
            let k = int m.To - 1
            nodes[k] <- (let struct (rn, _) = RawNode.step m nodes[k] in rn)

    /// Runs Ready/Advance cycles and deliveries until nothing is left to do.
    member c.Stabilize() =
        let mutable busy = true
        while busy do
            busy <- false
            for k in 0 .. n - 1 do
                if c.HandleReady k then busy <- true
            if mailbox.Count > 0 then
                busy <- true
                c.Deliver()

    /// Discards the stable log up to what every node applied, as a host compacting after a
    /// snapshot does, so a long run does not keep every entry.
    member _.Compact() =
        for k in 0 .. n - 1 do
            let applied = (RawNode.raft nodes[k]).RaftLog.Applied
            if applied > MemoryStorage.firstIndex (RawNode.storage nodes[k]) + 4096UL then
                match RawNode.compact applied nodes[k] with
                | Ok rn -> nodes[k] <- rn
                | Error e -> failwith (StorageError.message e)

[<MemoryDiagnoser>]
type ProposalBench() =
    let mutable cluster = Unchecked.defaultof<Cluster>
    let payload = Array.init PayloadSize byte

    /// Number of nodes (node 1 leads).
    [<Params(1, 3)>]
    member val Nodes = 1 with get, set

    /// Proposals per invocation, all proposed before the first Ready is taken.
    [<Params(1, 64)>]
    member val PerReady = 1 with get, set

    [<GlobalSetup>]
    member b.Setup() =
        cluster <- Cluster(b.Nodes)
        let struct (rn, res) = RawNode.campaign cluster.Nodes[0]
        match res with
        | Ok() -> cluster.Nodes[0] <- rn
        | Error e -> failwith (RaftError.message e)
        cluster.Stabilize()
        if (RawNode.raft cluster.Nodes[0]).State <> StateLeader then failwith "node 1 did not become leader"

    /// Proposes PerReady entries on the leader and runs the cluster until they are committed and
    /// applied everywhere.
    [<Benchmark(OperationsPerInvoke = 64)>]
    member b.Propose() =
        // BenchmarkDotNet divides by OperationsPerInvoke, fixed at 64 per attribute; a 1-per-Ready
        // invocation repeats the single proposal cycle 64 times so both report per proposal.
        let rounds = 64 / b.PerReady
        for _ in 1 .. rounds do
            for _ in 1 .. b.PerReady do
                let struct (rn, res) = RawNode.propose payload cluster.Nodes[0]
                match res with
                | Ok() -> cluster.Nodes[0] <- rn
                | Error e -> failwith (RaftError.message e)
            cluster.Stabilize()
        cluster.Compact()

    /// Every node applied everything the leader has: the measured work really happened.
    [<GlobalCleanup>]
    member b.Check() =
        let last = RaftLog.lastIndex (RawNode.raft cluster.Nodes[0]).RaftLog
        for rn in cluster.Nodes do
            let l = (RawNode.raft rn).RaftLog
            if l.Applied <> last || l.Committed <> last then
                failwithf "node %d applied %d, committed %d of %d" (RawNode.id rn) l.Applied l.Committed last
