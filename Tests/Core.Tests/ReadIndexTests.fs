/// ReadIndex in both modes: safe (confirmed by a heartbeat round) and lease-based.
module Raft.Core.Tests.ReadIndexTests

open System.Text
open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]
let private leaseBased (c: Config) = { c with CheckQuorum = true; ReadOnlyOption = ReadOnlyLeaseBased }

let private read (id: uint64) (ctx: string) (net: Net) = Net.update id (Member.map (RawNode.readIndex (Encoding.UTF8.GetBytes ctx))) net

let private readStates (id: uint64) (net: Net) =
    (Net.get id net).ReadStates |> List.rev |> List.map (fun rs -> rs.Index, Encoding.UTF8.GetString rs.RequestCtx)

[<Tests>]
let tests =
    testList "ReadIndex" [
        testCase "a safe read at the leader is answered with the commit index once a quorum confirmed the leadership" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.proposeOk 1UL "a" |> Net.stabilize
            let committed = (Net.raft 1UL net).RaftLog.Committed
            let net, sent = net |> read 1UL "r1" |> Net.stabilizeRecording
            Expect.equal (readStates 1UL net) ([ committed, "r1" ]) "readStates 1UL net"
            // The confirmation is a heartbeat round that carries the request's context.
            let beats = sent |> List.filter (fun m -> m.Type = MsgHeartbeat)
            Expect.equal beats.Length 2 "beats.Length"
            for m in beats do Expect.equal (Encoding.UTF8.GetString m.Context) "r1" "each heartbeat carries the request context"

        testCase "a safe read is not answered by a leader that cannot reach a quorum" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 1UL ] |> read 1UL "r1" |> Net.stabilize |> Net.tickAll 3
            Expect.isEmpty (readStates 1UL net) "readStates 1UL net"
            // One follower back is a quorum again: the next heartbeat completes the read.
            let net = net |> Net.heal |> Net.isolate [ 3UL ] |> Net.tickAll 1
            Expect.equal (readStates 1UL net |> List.map snd) ([ "r1" ]) "readStates 1UL net |> List.map snd"

        testCase "a read at a follower is answered through the leader with the leader's commit index" <| fun () ->
            for configure in [ id; leaseBased ] do
                let net = Net.createWith configure ids [] |> Net.elect 1UL |> Net.proposeOk 1UL "a" |> Net.stabilize
                let net = net |> read 2UL "r2" |> Net.stabilize
                Expect.equal (readStates 2UL net) ([ (Net.raft 1UL net).RaftLog.Committed, "r2" ]) "readStates 2UL net"
                Expect.isEmpty (readStates 1UL net) "readStates 1UL net"

        testCase "a lease-based read at the leader is answered at once, without messages" <| fun () ->
            let net = Net.createWith leaseBased ids [] |> Net.elect 1UL
            let net = read 1UL "r1" net
            let rd = RawNode.peekReady (Net.get 1UL net).Rn
            Expect.isEmpty rd.Messages "rd.Messages"
            Expect.equal (rd.ReadStates |> List.map (fun rs -> rs.Index, Encoding.UTF8.GetString rs.RequestCtx)) ([ (Net.raft 1UL net).RaftLog.Committed, "r1" ]) "the read state at the commit index"

        testCase "a new leader holds reads back until an entry of its own term is committed" <| fun () ->
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
                Expect.equal (r2.State, r2.Term) (StateLeader, 2UL) "(r2.State, r2.Term)"
                let net = net |> read 2UL "r" |> Net.stabilize |> Net.ticks 2UL 1 |> Net.stabilize
                Expect.isEmpty (readStates 2UL net) "readStates 2UL net"
                // Once the appends get through, the entry commits and the read is answered after it.
                let net = net |> Net.heal |> Net.ticks 2UL 1 |> Net.stabilize
                let r2 = Net.raft 2UL net
                Expect.equal (RaftLog.term r2.RaftLog.Committed r2.RaftLog |> Result.defaultValue 0UL) r2.Term "the committed entry is of the current term"
                Expect.equal (readStates 2UL net) ([ r2.RaftLog.Committed, "r" ]) "readStates 2UL net"

        testCase "a single voter answers reads at once, and a follower without a leader drops them" <| fun () ->
            let net = Net.create [ 1UL ] |> Net.elect 1UL |> read 1UL "solo" |> Net.stabilize
            Expect.equal (readStates 1UL net |> List.map snd) ([ "solo" ]) "readStates 1UL net |> List.map snd"
            let net = Net.create ids |> read 2UL "nobody" |> Net.stabilize
            Expect.isEmpty (readStates 2UL net) "readStates 2UL net"
            Expect.isEmpty ((RawNode.peekReady (Net.get 2UL net).Rn).Messages) "(RawNode.peekReady (Net.get 2UL net).Rn).Messages"
    ]
