/// PreVote and CheckQuorum: the two guards against disruptive elections.
module Raft.Core.Tests.PreVoteCheckQuorumTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]
let private preVote (c: Config) = { c with PreVote = true }
let private checkQuorum (c: Config) = { c with CheckQuorum = true }

let private outbox (m: Member) = List.ofArray (RawNode.peekReady m.Rn).Messages
let private step (m: Message) (mem: Member) = fst (Member.tryMap (RawNode.step m) mem)

[<Tests>]
let tests =
    testList "PreVoteCheckQuorum" [
        testCase "with PreVote a partitioned node never raises its term and does not disturb the leader on return" <| fun () ->
            let net = Net.createWith preVote ids [] |> Net.elect 1UL |> Net.isolate [ 3UL ] |> Net.tickAll 100
            let r3 = Net.raft 3UL net
            // It kept trying (pre-candidacy) but never got past it.
            Expect.equal r3.Term 1UL "r3.Term"
            Expect.equal r3.State StatePreCandidate "r3.State"
            let net = net |> Net.heal |> Net.tickAll 20
            Expect.equal ((Net.raft 1UL net).State, (Net.raft 1UL net).Term) (StateLeader, 1UL) "((Net.raft 1UL net).State, (Net.raft 1UL net).Term)"
            Expect.equal ((Net.raft 3UL net).State, (Net.raft 3UL net).Term, (Net.raft 3UL net).Lead) (StateFollower, 1UL, 1UL) "node 3 follows leader 1 at term 1"

        testCase "without PreVote a partitioned node raises its term and costs the cluster an election on return" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 3UL ] |> Net.tickAll 100
            Expect.isTrue ((Net.raft 3UL net).Term > 1UL) "(Net.raft 3UL net).Term > 1UL"
            let net = net |> Net.heal |> Net.tickAll 50
            let leaders = Net.leaders net
            Expect.equal leaders.Length 1 "leaders.Length"
            Expect.isTrue ((Net.raft leaders.Head net).Term > 1UL) "(Net.raft leaders.Head net).Term > 1UL"

        testCase "a pre-vote is granted for a future term without changing the voter's term or vote" <| fun () ->
            let net = Net.createWith preVote ids [] |> Net.elect 1UL
            let follower = Net.get 2UL net
            let before = Member.raft follower
            let follower = step { Pb.emptyMessage with Type = MsgPreVote; From = 3UL; To = 2UL; Term = 2UL; LogTerm = 1UL; Index = 2UL } follower
            let after = Member.raft follower
            Expect.equal (after.Term, after.Vote, after.Lead) (before.Term, before.Vote, before.Lead) "(after.Term, after.Vote, after.Lead)"
            let resp = outbox follower |> List.last
            Expect.equal (resp.Type, resp.Reject, resp.Term) (MsgPreVoteResp, false, 2UL) "(resp.Type, resp.Reject, resp.Term)"

        testCase "a pre-candidate with a stale log is rejected and stays at its term" <| fun () ->
            let net =
                Net.createWith preVote ids []
                |> Net.elect 1UL
                |> Net.isolate [ 3UL ]
                |> Net.proposeOk 1UL "a"
                |> Net.stabilize
                |> Net.heal
                // Heartbeats would bring n3 up to date; keep them from it.
                |> Net.dropWhere (fun m -> m.To = 3UL && (m.Type = MsgHeartbeat || m.Type = MsgApp))
                |> Net.elect 3UL
            let r3 = Net.raft 3UL net
            Expect.equal (r3.State, r3.Term) (StateFollower, 1UL) "(r3.State, r3.Term)"
            Expect.equal ((Net.raft 1UL net).State, (Net.raft 1UL net).Term) (StateLeader, 1UL) "((Net.raft 1UL net).State, (Net.raft 1UL net).Term)"

        testCase "with CheckQuorum a leader cut off from the quorum steps down within two election timeouts" <| fun () ->
            let net = Net.createWith checkQuorum ids [] |> Net.elect 1UL
            // Connected, the leader stays.
            let net = Net.tickAll 50 net
            Expect.equal (Net.leaders net) ([ 1UL ]) "Net.leaders net"
            let net = net |> Net.isolate [ 1UL ] |> Net.ticks 1UL 20
            let r1 = Net.raft 1UL net
            Expect.equal (r1.State, r1.Lead) (StateFollower, 0UL) "(r1.State, r1.Lead)"
            // It then refuses proposals instead of accepting writes that cannot commit.
            let _, res = Net.propose 1UL "x" net
            Expect.equal res (Error ErrProposalDropped) "the proposal is dropped"

        testCase "without CheckQuorum a cut-off leader keeps leading" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 1UL ] |> Net.ticks 1UL 100
            Expect.equal ((Net.raft 1UL net).State) StateLeader "(Net.raft 1UL net).State"

        testCase "with CheckQuorum a follower that heard from its leader ignores vote requests until its lease expires" <| fun () ->
            let net = Net.createWith checkQuorum ids [] |> Net.elect 1UL
            let vote term = { Pb.emptyMessage with Type = MsgVote; From = 3UL; To = 2UL; Term = term; LogTerm = 1UL; Index = 2UL }
            let follower = Net.get 2UL net |> step (vote 5UL)
            let r = Member.raft follower
            Expect.equal (r.Term, r.Vote, r.Lead) (1UL, 1UL, 1UL) "(r.Term, r.Vote, r.Lead)"
            Expect.isEmpty (outbox follower) "outbox follower"
            // Once an election timeout passes without the leader, the request is heard.
            let follower = Net.get 2UL (Net.isolate [ 2UL ] net |> Net.ticks 2UL 10) |> step (vote 6UL)
            let r = Member.raft follower
            Expect.equal (r.Term, r.Vote) (6UL, 3UL) "(r.Term, r.Vote)"

        testCase "with CheckQuorum and PreVote a partitioned node rejoins without an election" <| fun () ->
            let net =
                Net.createWith (preVote >> checkQuorum) ids []
                |> Net.elect 1UL
                |> Net.isolate [ 2UL ]
                |> Net.tickAll 60
                |> Net.heal
                |> Net.tickAll 20
            Expect.equal (Net.leaders net) ([ 1UL ]) "Net.leaders net"
            for id in ids do
                Expect.equal ((Net.raft id net).Term) 1UL "(Net.raft id net).Term"
    ]
