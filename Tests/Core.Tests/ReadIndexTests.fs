/// ReadIndex in both modes: safe (confirmed by a heartbeat round) and lease-based.
module Raft.Core.Tests.ReadIndexTests

open System.Text
open Xunit
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]
let private leaseBased (c: Config) = { c with CheckQuorum = true; ReadOnlyOption = ReadOnlyLeaseBased }

let private read (id: uint64) (ctx: string) (net: Net) = Net.update id (Member.map (RawNode.readIndex (Encoding.UTF8.GetBytes ctx))) net

let private readStates (id: uint64) (net: Net) =
    (Net.get id net).ReadStates |> List.rev |> List.map (fun rs -> rs.Index, Encoding.UTF8.GetString rs.RequestCtx)

[<Fact>]
let ``a safe read at the leader is answered with the commit index once a quorum confirmed the leadership`` () =
    let net = Net.create ids |> Net.elect 1UL |> Net.proposeOk 1UL "a" |> Net.stabilize
    let committed = (Net.raft 1UL net).RaftLog.Committed
    let net, sent = net |> read 1UL "r1" |> Net.stabilizeRecording
    Assert.Equal<(uint64 * string) list>([ committed, "r1" ], readStates 1UL net)
    // The confirmation is a heartbeat round that carries the request's context.
    let beats = sent |> List.filter (fun m -> m.Type = MsgHeartbeat)
    Assert.Equal(2, beats.Length)
    Assert.All(beats, fun m -> Assert.Equal("r1", Encoding.UTF8.GetString m.Context))

[<Fact>]
let ``a safe read is not answered by a leader that cannot reach a quorum`` () =
    let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 1UL ] |> read 1UL "r1" |> Net.stabilize |> Net.tickAll 3
    Assert.Empty(readStates 1UL net)
    // One follower back is a quorum again: the next heartbeat completes the read.
    let net = net |> Net.heal |> Net.isolate [ 3UL ] |> Net.tickAll 1
    Assert.Equal<string list>([ "r1" ], readStates 1UL net |> List.map snd)

[<Fact>]
let ``a read at a follower is answered through the leader with the leader's commit index`` () =
    for configure in [ id; leaseBased ] do
        let net = Net.createWith configure ids [] |> Net.elect 1UL |> Net.proposeOk 1UL "a" |> Net.stabilize
        let net = net |> read 2UL "r2" |> Net.stabilize
        Assert.Equal<(uint64 * string) list>([ (Net.raft 1UL net).RaftLog.Committed, "r2" ], readStates 2UL net)
        Assert.Empty(readStates 1UL net)

[<Fact>]
let ``a lease-based read at the leader is answered at once, without messages`` () =
    let net = Net.createWith leaseBased ids [] |> Net.elect 1UL
    let net = read 1UL "r1" net
    let rd = RawNode.peekReady (Net.get 1UL net).Rn
    Assert.Empty(rd.Messages)
    Assert.Equal<(uint64 * string) list>([ (Net.raft 1UL net).RaftLog.Committed, "r1" ], rd.ReadStates |> List.map (fun rs -> rs.Index, Encoding.UTF8.GetString rs.RequestCtx))

[<Fact>]
let ``a new leader holds reads back until an entry of its own term is committed`` () =
    for configure in [ id; leaseBased ] do
        // n1 hands leadership to n2 (a transfer is not stopped by leases); n2's appends are lost
        // for now, so it cannot commit the empty entry of its term.
        let net =
            Net.createWith configure ids []
            |> Net.elect 1UL
            |> Net.proposeOk 1UL "a"
            |> Net.stabilize
            |> Net.dropWhere (fun m -> m.Type = MsgApp && m.From = 2UL)
            |> Net.update 1UL (Member.map (RawNode.transferLeader 2UL))
            |> Net.stabilize
        let r2 = Net.raft 2UL net
        Assert.Equal((StateLeader, 2UL), (r2.State, r2.Term))
        let net = net |> read 2UL "r" |> Net.stabilize |> Net.ticks 2UL 1 |> Net.stabilize
        Assert.Empty(readStates 2UL net)
        // Once the appends get through, the entry commits and the read is answered after it.
        let net = net |> Net.heal |> Net.ticks 2UL 1 |> Net.stabilize
        let r2 = Net.raft 2UL net
        Assert.Equal(r2.Term, (RaftLog.term r2.RaftLog.Committed r2.RaftLog |> Result.defaultValue 0UL))
        Assert.Equal<(uint64 * string) list>([ r2.RaftLog.Committed, "r" ], readStates 2UL net)

[<Fact>]
let ``a single voter answers reads at once, and a follower without a leader drops them`` () =
    let net = Net.create [ 1UL ] |> Net.elect 1UL |> read 1UL "solo" |> Net.stabilize
    Assert.Equal<string list>([ "solo" ], readStates 1UL net |> List.map snd)
    let net = Net.create ids |> read 2UL "nobody" |> Net.stabilize
    Assert.Empty(readStates 2UL net)
    Assert.Empty((RawNode.peekReady (Net.get 2UL net).Rn).Messages)
