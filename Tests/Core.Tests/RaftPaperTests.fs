/// The rules of the Raft paper (section 5), checked on nodes and small clusters: elections and
/// their restrictions, log replication and matching, follower log repair, commitment by counting
/// only for entries of the current term, and leader completeness.
module Raft.Core.Tests.RaftPaperTests

open Xunit
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

[<Fact>]
let ``a follower that hears from nobody for an election timeout campaigns for the next term`` () =
    let net = Net.create [ 1UL; 2UL; 3UL ]
    let ticksToCampaign =
        Seq.initInfinite id
        |> Seq.scan (fun net _ -> Net.tick 1UL net) net
        |> Seq.findIndex (fun net -> (Net.raft 1UL net).State <> StateFollower)
    Assert.InRange(ticksToCampaign, 10, 19)
    let net = Net.ticks 1UL ticksToCampaign net
    let r = Net.raft 1UL net
    Assert.Equal(StateCandidate, r.State)
    Assert.Equal(1UL, r.Term)
    Assert.Equal(1UL, r.Vote)
    let votes = outbox (Net.get 1UL net) |> List.map (fun m -> m.Type, m.To, m.Term)
    Assert.Equal<(MessageType * uint64 * uint64) list>([ MsgVote, 2UL, 1UL; MsgVote, 3UL, 1UL ], votes)

[<Fact>]
let ``election timeouts are drawn from [electionTick, 2 electionTick) and differ between nodes`` () =
    let timeouts =
        [ for seed in 1UL .. 200UL ->
              let m = Member.create { Config.defaults 1UL with Seed = Some seed } cs3
              Seq.initInfinite id
              |> Seq.scan (fun m _ -> Member.map RawNode.tick m) m
              |> Seq.findIndex (fun m -> (Member.raft m).State = StateCandidate) ]
    Assert.All(timeouts, fun t -> Assert.InRange(t, 10, 19))
    // Randomization is what breaks split votes: every value of the range shows up.
    Assert.Equal(10, (List.distinct timeouts).Length)

/// Member 1 of a cluster of `size` campaigns and receives the given votes.
let private electionOutcome (size: int) (votes: (uint64 * bool) list) =
    let cs = Member.confState [ 1UL .. uint64 size ] []
    let m = Member.create (Config.defaults 1UL) cs |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
    let m =
        votes
        |> List.fold (fun m (from, granted) -> step { msg MsgVoteResp from 1UL 1UL with Reject = not granted } m) m
    (Member.raft m).State

[<Fact>]
let ``a candidate wins with a majority of votes, loses with a majority of rejections, and waits otherwise`` () =
    Assert.Equal(StateLeader, electionOutcome 1 [])
    Assert.Equal(StateLeader, electionOutcome 3 [ 2UL, true ])
    Assert.Equal(StateCandidate, electionOutcome 3 [ 2UL, false ])
    Assert.Equal(StateFollower, electionOutcome 3 [ 2UL, false; 3UL, false ])
    Assert.Equal(StateLeader, electionOutcome 5 [ 2UL, true; 3UL, true ])
    Assert.Equal(StateCandidate, electionOutcome 5 [ 2UL, true; 3UL, false; 4UL, false ])
    Assert.Equal(StateFollower, electionOutcome 5 [ 2UL, false; 3UL, false; 4UL, false ])
    // A vote counts once, however often it arrives.
    Assert.Equal(StateCandidate, electionOutcome 5 [ 2UL, true; 2UL, true; 2UL, true ])

let private voteResponse (m: Member) =
    match outbox m |> List.filter (fun m -> m.Type = MsgVoteResp) |> List.rev with
    | last :: _ -> not last.Reject
    | [] -> failwith "no vote response"

[<Fact>]
let ``a node votes for at most one candidate per term, first come first served`` () =
    let voter = Member.create (Config.defaults 2UL) cs3
    let voter = step { msg MsgVote 1UL 2UL 1UL with LogTerm = 1UL; Index = 1UL } voter
    Assert.True(voteResponse voter)
    let voter = step { msg MsgVote 3UL 2UL 1UL with LogTerm = 1UL; Index = 1UL } voter
    Assert.False(voteResponse voter)
    // The same candidate asking again (its request was lost, say) gets the same answer.
    let voter = step { msg MsgVote 1UL 2UL 1UL with LogTerm = 1UL; Index = 1UL } voter
    Assert.True(voteResponse voter)
    Assert.Equal(1UL, (Member.raft voter).Vote)
    // The vote is part of the hard state, which must be persisted before the response is sent.
    let rd = RawNode.peekReady voter.Rn
    Assert.Equal(1UL, rd.HardState.Vote)
    Assert.True(rd.MustSync)

[<Fact>]
let ``a node votes only for candidates whose log is at least as up to date as its own`` () =
    // The voter's log ends at index 3, term 2.
    let voterFor (lastIndex: uint64, lastTerm: uint64) =
        Member.createWithLog (Config.defaults 2UL) cs3 [ 2UL; 2UL ] 2UL
        |> step { msg MsgVote 1UL 2UL 3UL with Index = lastIndex; LogTerm = lastTerm }
        |> voteResponse
    Assert.True(voterFor (3UL, 2UL))
    Assert.True(voterFor (4UL, 2UL))
    Assert.True(voterFor (2UL, 3UL))
    Assert.False(voterFor (2UL, 2UL))
    Assert.False(voterFor (5UL, 1UL))

[<Fact>]
let ``a candidate becomes follower when a leader of its term or any higher term shows up`` () =
    let candidate () = Member.create (Config.defaults 1UL) cs3 |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
    let m = candidate () |> step { msg MsgApp 2UL 1UL 1UL with LogTerm = 1UL; Index = 1UL }
    Assert.Equal(StateFollower, (Member.raft m).State)
    Assert.Equal(2UL, (Member.raft m).Lead)
    Assert.Equal(1UL, (Member.raft m).Term)
    let m = candidate () |> step (msg MsgHeartbeat 3UL 1UL 5UL)
    Assert.Equal(StateFollower, (Member.raft m).State)
    Assert.Equal((5UL, 3UL), ((Member.raft m).Term, (Member.raft m).Lead))

[<Fact>]
let ``a message with a higher term turns any node into a follower of that term; lower terms are ignored`` () =
    // Term 2, so that a lower term is not 0 (which stands for local messages).
    let net = Net.create [ 1UL; 2UL; 3UL ] |> Net.elect 2UL |> Net.elect 1UL
    let candidate = Net.get 3UL net |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
    for m in [ Net.get 1UL net; Net.get 2UL net; candidate ] do
        let id = Member.id m
        let before = Member.raft m
        let higher = step { msg MsgApp 9UL id 7UL with LogTerm = 99UL; Index = 99UL } m |> Member.raft
        Assert.Equal((StateFollower, 7UL), (higher.State, higher.Term))
        let lower = step { msg MsgApp 9UL id 0UL with Term = before.Term - 1UL } m |> Member.raft
        Assert.Equal((before.State, before.Term, before.Lead), (lower.State, lower.Term, lower.Lead))

[<Fact>]
let ``a new leader appends an empty entry of its term and heartbeats every heartbeat tick`` () =
    let net = Net.create [ 1UL; 2UL; 3UL ] |> Net.elect 1UL
    let r = Net.raft 1UL net
    Assert.Equal(StateLeader, r.State)
    let last = Member.entries (Net.get 1UL net) |> Array.last
    Assert.Equal((r.Term, 0), (last.Term, last.Data.Length))
    let leader = Net.get 1UL net |> Member.map RawNode.tick
    let beats = outbox leader |> List.map (fun m -> m.Type, m.To)
    Assert.Equal<(MessageType * uint64) list>([ MsgHeartbeat, 2UL; MsgHeartbeat, 3UL ], beats)

// ---------------------------------------------------------------------------------------------
// Log replication (5.3).

[<Fact>]
let ``after replication every log matches the leader's and every member applied the same entries`` () =
    let net =
        Net.create [ 1UL; 2UL; 3UL; 4UL; 5UL ]
        |> Net.elect 1UL
        |> Net.proposeOk 1UL "a"
        |> Net.proposeOk 2UL "b" // forwarded: it reaches the leader after c
        |> Net.proposeOk 1UL "c"
        |> Net.stabilize
    let leaderLog = Member.entries (Net.get 1UL net)
    Assert.Equal<string list>([ "a"; "c"; "b" ], Net.appliedData 1UL net)
    for id in 2UL .. 5UL do
        Assert.Equal<Entry[]>(leaderLog, Member.entries (Net.get id net))
        Assert.Equal<string list>([ "a"; "c"; "b" ], Net.appliedData id net)
        Assert.Equal((Net.raft 1UL net).RaftLog.Committed, (Net.raft id net).RaftLog.Committed)

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

[<Fact>]
let ``a leader repairs follower logs: missing entries are sent and conflicting suffixes replaced`` () =
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
        Assert.Equal(StateLeader, (Net.raft 1UL net).State)
        let expected = Member.entries (Net.get 1UL net)
        Assert.Equal(leaderLog.Length + 1, expected.Length)
        Assert.Equal<Entry[]>(expected, Member.entries (Net.get 2UL net))
        // And that is what n2 persisted.
        let stored = Member.storage (Net.get 2UL net)
        let last = MemoryStorage.lastIndex stored
        Assert.Equal(Ok expected, MemoryStorage.entries 2UL (last + 1UL) System.UInt64.MaxValue stored)

[<Fact>]
let ``a leader commits an entry of an earlier term only through an entry of its own term`` () =
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
    Assert.Equal((StateLeader, 3UL), (r.State, r.Term))
    // Index 2 is on a majority (n1, n2), yet counting replicas must not commit it: it is of term 2.
    Assert.Equal(2UL, r.Prs.Progress[2UL].Match)
    Assert.Equal(Member.StartIndex, r.RaftLog.Committed)
    // Once the entry of term 3 reaches n2 too, both commit.
    let net = net |> Net.heal |> Net.isolate [ 3UL ] |> Net.tick 1UL |> Net.stabilize
    Assert.Equal(3UL, (Net.raft 1UL net).RaftLog.Committed)
    Assert.Equal<string list>([ "t2i2" ], Net.appliedData 2UL net)

[<Fact>]
let ``a node that lacks committed entries cannot be elected; the new leader holds every committed entry`` () =
    let net =
        Net.create [ 1UL; 2UL; 3UL ]
        |> Net.elect 1UL
        |> Net.isolate [ 3UL ]
        |> Net.proposeOk 1UL "a"
        |> Net.proposeOk 1UL "b"
        |> Net.stabilize
    let committed = (Net.raft 1UL net).RaftLog.Committed
    Assert.Equal<string list>([ "a"; "b" ], Net.appliedData 2UL net)
    // The leader is lost; n3, which missed a and b, campaigns and n2 refuses.
    let net = net |> Net.heal |> Net.isolate [ 1UL ] |> Net.elect 3UL
    Assert.NotEqual(StateLeader, (Net.raft 3UL net).State)
    Assert.Equal(0UL, (Net.raft 2UL net).Vote)
    // n2 holds them and wins, and n3 gets them from it.
    let net = net |> Net.elect 2UL
    Assert.Equal(StateLeader, (Net.raft 2UL net).State)
    let leaderEntries = Member.entries (Net.get 2UL net)
    Assert.True(leaderEntries |> Array.exists (fun e -> e.Index = committed))
    Assert.Equal<string list>([ "a"; "b" ], Net.appliedData 3UL net)
