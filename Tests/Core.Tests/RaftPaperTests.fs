/// The rules of the Raft paper (section 5), checked on nodes and small clusters: elections and
/// their restrictions, log replication and matching, follower log repair, commitment by counting
/// only for entries of the current term, and leader completeness.
module Raft.Core.Tests.RaftPaperTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private cs3 = Member.confState [ 1UL; 2UL; 3UL ] []

let private msg (t: MessageType) (from: uint64) (``to``: uint64) (term: uint64) =
    { Pb.emptyMessage with Type = t; From = from; To = ``to``; Term = term }

/// The messages the member would send now, without handling its Ready.
let private outbox (m: Member) = List.ofArray (RawNode.peekReady m.Rn).Messages

let private step (m: Message) (mem: Member) = fst (Member.tryMap (RawNode.step m) mem)

// ---------------------------------------------------------------------------------------------
// Elections (5.2).

/// Member 1 of a cluster of `size` campaigns and receives the given votes.
let private electionOutcome (size: int) (votes: (uint64 * bool) list) =
    let cs = Member.confState [ 1UL .. uint64 size ] []
    let m = Member.create (Config.defaults 1UL) cs |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
    let m =
        votes
        |> List.fold (fun m (from, granted) -> step { msg MsgVoteResp from 1UL 1UL with Reject = not granted } m) m
    (Member.raft m).State

let private voteResponse (m: Member) =
    match outbox m |> List.filter (fun m -> m.Type = MsgVoteResp) |> List.rev with
    | last :: _ -> not last.Reject
    | [] -> failwith "no vote response"

// ---------------------------------------------------------------------------------------------
// Log replication (5.3).

/// Logs of followers relative to the leader's (Figure 7 of the paper): missing entries, extra
/// ones, and conflicting suffixes of other terms. Each is one term per index from index 2.
let private leaderLog = [ 1UL; 1UL; 1UL; 4UL; 4UL; 5UL; 5UL; 6UL; 6UL; 6UL ]

let private followerLogs =
    [ [ 1UL; 1UL; 1UL; 4UL; 4UL; 5UL; 5UL; 6UL; 6UL ]
      [ 1UL; 1UL; 1UL; 4UL ]
      [ 1UL; 1UL; 1UL; 4UL; 4UL; 5UL; 5UL; 6UL; 6UL; 6UL; 6UL ]
      [ 1UL; 1UL; 1UL; 4UL; 4UL; 5UL; 5UL; 6UL; 6UL; 6UL; 7UL; 7UL ]
      [ 1UL; 1UL; 1UL; 4UL; 4UL; 4UL; 4UL ]
      [ 1UL; 1UL; 1UL; 2UL; 2UL; 2UL; 3UL; 3UL; 3UL; 3UL; 3UL ]
      [] ]

[<Tests>]
let tests =
    testList "RaftPaper" [
        testCase "a follower that hears from nobody for an election timeout campaigns for the next term" <| fun () ->
            let net = Net.create [ 1UL; 2UL; 3UL ]
            let ticksToCampaign =
                Seq.initInfinite id
                |> Seq.scan (fun net _ -> Net.tick 1UL net) net
                |> Seq.findIndex (fun net -> (Net.raft 1UL net).State <> StateFollower)
            Expect.isTrue (ticksToCampaign >= 10 && ticksToCampaign <= 19) (sprintf "ticks to campaign in [10, 19]: %d" ticksToCampaign)
            let net = Net.ticks 1UL ticksToCampaign net
            let r = Net.raft 1UL net
            Expect.equal r.State StateCandidate "r.State"
            Expect.equal r.Term 1UL "r.Term"
            Expect.equal r.Vote 1UL "r.Vote"
            let votes = outbox (Net.get 1UL net) |> List.map (fun m -> m.Type, m.To, m.Term)
            Expect.equal votes ([ MsgVote, 2UL, 1UL; MsgVote, 3UL, 1UL ]) "a vote request to each peer"

        testCase "election timeouts are drawn from [electionTick, 2 electionTick) and differ between nodes" <| fun () ->
            let timeouts =
                [ for seed in 1UL .. 200UL ->
                      let m = Member.create { Config.defaults 1UL with Seed = Some seed } cs3
                      Seq.initInfinite id
                      |> Seq.scan (fun m _ -> Member.map RawNode.tick m) m
                      |> Seq.findIndex (fun m -> (Member.raft m).State = StateCandidate) ]
            for t in timeouts do Expect.isTrue (t >= 10 && t <= 19) (sprintf "timeout in [10, 19]: %d" t)
            // Randomization is what breaks split votes: every value of the range shows up.
            Expect.equal ((List.distinct timeouts).Length) 10 "(List.distinct timeouts).Length"

        testCase "a candidate wins with a majority of votes, loses with a majority of rejections, and waits otherwise" <| fun () ->
            Expect.equal (electionOutcome 1 []) StateLeader "electionOutcome 1 []"
            Expect.equal (electionOutcome 3 [ 2UL, true ]) StateLeader "electionOutcome 3 [ 2UL, true ]"
            Expect.equal (electionOutcome 3 [ 2UL, false ]) StateCandidate "electionOutcome 3 [ 2UL, false ]"
            Expect.equal (electionOutcome 3 [ 2UL, false; 3UL, false ]) StateFollower "electionOutcome 3 [ 2UL, false; 3UL, false ]"
            Expect.equal (electionOutcome 5 [ 2UL, true; 3UL, true ]) StateLeader "electionOutcome 5 [ 2UL, true; 3UL, true ]"
            Expect.equal (electionOutcome 5 [ 2UL, true; 3UL, false; 4UL, false ]) StateCandidate "electionOutcome 5 [ 2UL, true; 3UL, false; 4UL, false ]"
            Expect.equal (electionOutcome 5 [ 2UL, false; 3UL, false; 4UL, false ]) StateFollower "electionOutcome 5 [ 2UL, false; 3UL, false; 4UL, false ]"
            // A vote counts once, however often it arrives.
            Expect.equal (electionOutcome 5 [ 2UL, true; 2UL, true; 2UL, true ]) StateCandidate "electionOutcome 5 [ 2UL, true; 2UL, true; 2UL, true ]"

        testCase "a node votes for at most one candidate per term, first come first served" <| fun () ->
            let voter = Member.create (Config.defaults 2UL) cs3
            let voter = step { msg MsgVote 1UL 2UL 1UL with LogTerm = 1UL; Index = 1UL } voter
            Expect.isTrue (voteResponse voter) "voteResponse voter"
            let voter = step { msg MsgVote 3UL 2UL 1UL with LogTerm = 1UL; Index = 1UL } voter
            Expect.isFalse (voteResponse voter) "voteResponse voter"
            // The same candidate asking again (its request was lost, say) gets the same answer.
            let voter = step { msg MsgVote 1UL 2UL 1UL with LogTerm = 1UL; Index = 1UL } voter
            Expect.isTrue (voteResponse voter) "voteResponse voter"
            Expect.equal ((Member.raft voter).Vote) 1UL "(Member.raft voter).Vote"
            // The vote is part of the hard state, which must be persisted before the response is sent.
            let rd = RawNode.peekReady voter.Rn
            Expect.equal rd.HardState.Vote 1UL "rd.HardState.Vote"
            Expect.isTrue rd.MustSync "rd.MustSync"

        testCase "a node votes only for candidates whose log is at least as up to date as its own" <| fun () ->
            // The voter's log ends at index 3, term 2.
            let voterFor (lastIndex: uint64, lastTerm: uint64) =
                Member.createWithLog (Config.defaults 2UL) cs3 [ 2UL; 2UL ] 2UL
                |> step { msg MsgVote 1UL 2UL 3UL with Index = lastIndex; LogTerm = lastTerm }
                |> voteResponse
            Expect.isTrue (voterFor (3UL, 2UL)) "voterFor (3UL, 2UL)"
            Expect.isTrue (voterFor (4UL, 2UL)) "voterFor (4UL, 2UL)"
            Expect.isTrue (voterFor (2UL, 3UL)) "voterFor (2UL, 3UL)"
            Expect.isFalse (voterFor (2UL, 2UL)) "voterFor (2UL, 2UL)"
            Expect.isFalse (voterFor (5UL, 1UL)) "voterFor (5UL, 1UL)"

        testCase "a candidate becomes follower when a leader of its term or any higher term shows up" <| fun () ->
            let candidate () = Member.create (Config.defaults 1UL) cs3 |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
            let m = candidate () |> step { msg MsgApp 2UL 1UL 1UL with LogTerm = 1UL; Index = 1UL }
            Expect.equal ((Member.raft m).State) StateFollower "(Member.raft m).State"
            Expect.equal ((Member.raft m).Lead) 2UL "(Member.raft m).Lead"
            Expect.equal ((Member.raft m).Term) 1UL "(Member.raft m).Term"
            let m = candidate () |> step (msg MsgHeartbeat 3UL 1UL 5UL)
            Expect.equal ((Member.raft m).State) StateFollower "(Member.raft m).State"
            Expect.equal ((Member.raft m).Term, (Member.raft m).Lead) (5UL, 3UL) "((Member.raft m).Term, (Member.raft m).Lead)"

        testCase "a message with a higher term turns any node into a follower of that term; lower terms are ignored" <| fun () ->
            // Term 2, so that a lower term is not 0 (which stands for local messages).
            let net = Net.create [ 1UL; 2UL; 3UL ] |> Net.elect 2UL |> Net.elect 1UL
            let candidate = Net.get 3UL net |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
            for m in [ Net.get 1UL net; Net.get 2UL net; candidate ] do
                let id = Member.id m
                let before = Member.raft m
                let higher = step { msg MsgApp 9UL id 7UL with LogTerm = 99UL; Index = 99UL } m |> Member.raft
                Expect.equal (higher.State, higher.Term) (StateFollower, 7UL) "(higher.State, higher.Term)"
                let lower = step { msg MsgApp 9UL id 0UL with Term = before.Term - 1UL } m |> Member.raft
                Expect.equal (lower.State, lower.Term, lower.Lead) (before.State, before.Term, before.Lead) "(lower.State, lower.Term, lower.Lead)"

        testCase "a new leader appends an empty entry of its term and heartbeats every heartbeat tick" <| fun () ->
            let net = Net.create [ 1UL; 2UL; 3UL ] |> Net.elect 1UL
            let r = Net.raft 1UL net
            Expect.equal r.State StateLeader "r.State"
            let last = Member.entries (Net.get 1UL net) |> Array.last
            Expect.equal (last.Term, last.Data.Length) (r.Term, 0) "(last.Term, last.Data.Length)"
            let leader = Net.get 1UL net |> Member.map RawNode.tick
            let beats = outbox leader |> List.map (fun m -> m.Type, m.To)
            Expect.equal beats ([ MsgHeartbeat, 2UL; MsgHeartbeat, 3UL ]) "a heartbeat to each peer"

        testCase "after replication every log matches the leader's and every member applied the same entries" <| fun () ->
            let net =
                Net.create [ 1UL; 2UL; 3UL; 4UL; 5UL ]
                |> Net.elect 1UL
                |> Net.proposeOk 1UL "a"
                |> Net.proposeOk 2UL "b" // forwarded: it reaches the leader after c
                |> Net.proposeOk 1UL "c"
                |> Net.stabilize
            let leaderLog = Member.entries (Net.get 1UL net)
            Expect.equal (Net.appliedData 1UL net) ([ "a"; "c"; "b" ]) "Net.appliedData 1UL net"
            for id in 2UL .. 5UL do
                Expect.equal (Member.entries (Net.get id net)) leaderLog "Member.entries (Net.get id net)"
                Expect.equal (Net.appliedData id net) ([ "a"; "c"; "b" ]) "Net.appliedData id net"
                Expect.equal ((Net.raft id net).RaftLog.Committed) ((Net.raft 1UL net).RaftLog.Committed) "(Net.raft id net).RaftLog.Committed"

        testCase "a leader repairs follower logs: missing entries are sent and conflicting suffixes replaced" <| fun () ->
            for follower in followerLogs do
                let cfg = Config.defaults
                let net =
                    { Net.create [ 1UL; 2UL; 3UL ] with
                        Members =
                            Map
                                [ 1UL, Member.createWithLog (cfg 1UL) cs3 leaderLog 8UL
                                  2UL, Member.createWithLog (cfg 2UL) cs3 follower 8UL
                                  3UL, Member.createWithLog (cfg 3UL) cs3 [] 8UL ] }
                    |> Net.isolate [ 3UL ]
                // n2 may hold a longer log than n1 and refuse its vote; n3's vote elects n1 either way.
                let net = net |> Net.campaign 1UL
                let net = Net.update 1UL (step { msg MsgVoteResp 3UL 1UL 9UL with Term = 9UL }) net |> Net.stabilize
                Expect.equal ((Net.raft 1UL net).State) StateLeader "(Net.raft 1UL net).State"
                let expected = Member.entries (Net.get 1UL net)
                Expect.equal expected.Length (leaderLog.Length + 1) "expected.Length"
                Expect.equal (Member.entries (Net.get 2UL net)) expected "Member.entries (Net.get 2UL net)"
                // And that is what n2 persisted.
                let stored = Member.storage (Net.get 2UL net)
                let last = MemoryStorage.lastIndex stored
                Expect.equal (MemoryStorage.entries 2UL (last + 1UL) System.UInt64.MaxValue stored) (Ok expected) "MemoryStorage.entries 2UL (last + 1UL) System.UInt64.MaxValue stored"

        testCase "a leader commits an entry of an earlier term only through an entry of its own term" <| fun () ->
            // n1 led term 2 and appended index 2 before it lost leadership; nobody else has it.
            let cfg id = { Config.defaults id with MaxSizePerMsg = 0UL } // one entry per append
            let net =
                { Net.create [ 1UL; 2UL; 3UL ] with
                    Members =
                        Map
                            [ 1UL, Member.createWithLog (cfg 1UL) cs3 [ 2UL ] 2UL
                              2UL, Member.createWithLog (cfg 2UL) cs3 [] 2UL
                              3UL, Member.createWithLog (cfg 3UL) cs3 [] 2UL ] }
                |> Net.isolate [ 3UL ]
                |> Net.dropWhere (fun m -> m.Type = MsgApp)
                |> Net.elect 1UL
            // n1 leads term 3 and probes n2 after index 2, which n2 lacks; n2's rejection (stepped here
            // by hand) makes n1 send index 2. n2 gets it, but not the empty entry of term 3 at index 3.
            let reject = { msg MsgAppResp 2UL 1UL 3UL with Index = 2UL; Reject = true; RejectHint = 1UL; LogTerm = 1UL }
            let net =
                net
                |> Net.heal
                |> Net.isolate [ 3UL ]
                |> Net.dropWhere (fun m -> m.Type = MsgApp && m.Entries |> Array.exists (fun e -> e.Term = 3UL))
                |> Net.update 1UL (step reject)
                |> Net.stabilize
            let r = Net.raft 1UL net
            Expect.equal (r.State, r.Term) (StateLeader, 3UL) "(r.State, r.Term)"
            // Index 2 is on a majority (n1, n2), yet counting replicas must not commit it: it is of term 2.
            Expect.equal r.Prs.Progress[2UL].Match 2UL "r.Prs.Progress[2UL].Match"
            Expect.equal r.RaftLog.Committed Member.StartIndex "r.RaftLog.Committed"
            // Once the entry of term 3 reaches n2 too, both commit.
            let net = net |> Net.heal |> Net.isolate [ 3UL ] |> Net.tick 1UL |> Net.stabilize
            Expect.equal ((Net.raft 1UL net).RaftLog.Committed) 3UL "(Net.raft 1UL net).RaftLog.Committed"
            Expect.equal (Net.appliedData 2UL net) ([ "t2i2" ]) "Net.appliedData 2UL net"

        testCase "a node that lacks committed entries cannot be elected; the new leader holds every committed entry" <| fun () ->
            let net =
                Net.create [ 1UL; 2UL; 3UL ]
                |> Net.elect 1UL
                |> Net.isolate [ 3UL ]
                |> Net.proposeOk 1UL "a"
                |> Net.proposeOk 1UL "b"
                |> Net.stabilize
            let committed = (Net.raft 1UL net).RaftLog.Committed
            Expect.equal (Net.appliedData 2UL net) ([ "a"; "b" ]) "Net.appliedData 2UL net"
            // The leader is lost; n3, which missed a and b, campaigns and n2 refuses.
            let net = net |> Net.heal |> Net.isolate [ 1UL ] |> Net.elect 3UL
            Expect.notEqual ((Net.raft 3UL net).State) StateLeader "(Net.raft 3UL net).State"
            Expect.equal ((Net.raft 2UL net).Vote) 0UL "(Net.raft 2UL net).Vote"
            // n2 holds them and wins, and n3 gets them from it.
            let net = net |> Net.elect 2UL
            Expect.equal ((Net.raft 2UL net).State) StateLeader "(Net.raft 2UL net).State"
            let leaderEntries = Member.entries (Net.get 2UL net)
            Expect.isTrue (leaderEntries |> Array.exists (fun e -> e.Index = committed)) "leaderEntries |> Array.exists (fun e -> e.Index = committed)"
            Expect.equal (Net.appliedData 3UL net) ([ "a"; "b" ]) "Net.appliedData 3UL net"
    ]
