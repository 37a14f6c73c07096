/// Snapshots and log compaction (a follower behind the leader's compacted log is restored from a
/// snapshot; ReportSnapshot), restarting from storage, and Status.
module Raft.Core.Tests.SnapshotStatusTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]

let private step (m: Message) (mem: Member) = fst (Member.tryMap (RawNode.step m) mem)

/// n3 misses a, b, c; then n1 compacts its log past them.
let private lagging () =
    Net.create ids
    |> Net.elect 1UL
    |> Net.isolate [ 3UL ]
    |> Net.proposeOk 1UL "a"
    |> Net.proposeOk 1UL "b"
    |> Net.proposeOk 1UL "c"
    |> Net.stabilize
    |> Net.update 1UL Member.compact

[<Tests>]
let tests =
    testList "SnapshotStatus" [
        testCase "a follower behind the leader's compacted log is restored from a snapshot and then replicates" <| fun () ->
            let net = lagging ()
            let compactedTo = MemoryStorage.firstIndex (Member.storage (Net.get 1UL net)) - 1UL
            Expect.equal compactedTo (MemoryStorage.lastIndex (Member.storage (Net.get 1UL net))) "the log is compacted to its last index"
            let net, sent = net |> Net.heal |> Net.tick 1UL |> Net.stabilizeRecording
            let snaps = sent |> List.filter (fun m -> m.Type = MsgSnap)
            Expect.equal snaps.Length 1 "snaps.Length"
            Expect.equal (snaps.Head.To, snaps.Head.Snapshot.Metadata.Index) (3UL, compactedTo) "(snaps.Head.To, snaps.Head.Snapshot.Metadata.Index)"
            let m3 = Net.get 3UL net
            Expect.equal m3.SnapshotIndex compactedTo "m3.SnapshotIndex"
            Expect.equal ((MemoryStorage.snapshot (Member.storage m3)).Metadata.Index) compactedTo "(MemoryStorage.snapshot (Member.storage m3)).Metadata.Index"
            Expect.equal ((MemoryStorage.snapshot (Member.storage m3)).Metadata.ConfState.Voters) ids "(MemoryStorage.snapshot (Member.storage m3)).Metadata.ConfState.Voters"
            // It then gets new entries by append.
            let net, sent = net |> Net.proposeOk 1UL "d" |> Net.stabilizeRecording
            Expect.isFalse (sent |> Seq.exists (fun m -> m.Type = MsgSnap)) "no MsgSnap is sent"
            Expect.equal (Net.appliedData 3UL net) ([ "d" ]) "Net.appliedData 3UL net"
            Expect.equal ((Net.raft 3UL net).RaftLog.Committed) ((Net.raft 1UL net).RaftLog.Committed) "(Net.raft 3UL net).RaftLog.Committed"
            Expect.equal ((Net.raft 1UL net).Prs.Progress[3UL].State) StateReplicate "(Net.raft 1UL net).Prs.Progress[3UL].State"

        testCase "while a snapshot is in flight the leader pauses the follower; ReportSnapshot resumes probing" <| fun () ->
            let net = lagging () |> Net.heal |> Net.dropWhere (fun m -> m.Type = MsgSnap) |> Net.tick 1UL |> Net.stabilize
            let pr = (Net.raft 1UL net).Prs.Progress[3UL]
            Expect.equal pr.State StateSnapshot "pr.State"
            Expect.isTrue (Progress.isPaused pr) "Progress.isPaused pr"
            // Proposals do not reach a paused follower.
            let net, sent = net |> Net.proposeOk 1UL "d" |> Net.stabilizeRecording
            Expect.isFalse (sent |> Seq.exists (fun m -> m.To = 3UL && m.Type = MsgApp)) "no MsgApp to node 3"
            // A failed snapshot returns it to probing, without a pending snapshot.
            let failed = Net.update 1UL (Member.map (RawNode.reportSnapshot 3UL SnapshotFailure)) net
            let pr = (Net.raft 1UL failed).Prs.Progress[3UL]
            Expect.equal (pr.State, pr.PendingSnapshot) (StateProbe, 0UL) "(pr.State, pr.PendingSnapshot)"
            // After the next heartbeat it is sent the snapshot again, which now arrives.
            let net = failed |> Net.heal |> Net.tick 1UL |> Net.stabilize
            Expect.equal (Member.appliedIndex (Net.get 3UL net)) (Member.appliedIndex (Net.get 1UL net)) "Member.appliedIndex (Net.get 3UL net)"
            Expect.equal ((Net.raft 1UL net).Prs.Progress[3UL].State) StateReplicate "(Net.raft 1UL net).Prs.Progress[3UL].State"

        testCase "a snapshot older than what a follower committed is ignored" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.proposeOk 1UL "a" |> Net.stabilize
            let m2 = Net.get 2UL net
            let committed = (Member.raft m2).RaftLog.Committed
            let old =
                { Data = [||]
                  Metadata = { Index = committed - 1UL; Term = 1UL; ConfState = Member.confState ids [] } }
            let m2 = step { Pb.emptyMessage with Type = MsgSnap; From = 1UL; To = 2UL; Term = 1UL; Snapshot = old } m2
            let rd = RawNode.peekReady m2.Rn
            Expect.isTrue (Pb.isEmptySnap rd.Snapshot) "Pb.isEmptySnap rd.Snapshot"
            let resp = rd.Messages |> Array.last
            Expect.equal (resp.Type, resp.Index) (MsgAppResp, committed) "(resp.Type, resp.Index)"

        testCase "compaction discards entries; asking for them answers ErrCompacted" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.proposeOk 1UL "a" |> Net.proposeOk 1UL "b" |> Net.stabilize
            let m = Member.compact (Net.get 1UL net)
            let s = Member.storage m
            let applied = Member.appliedIndex m
            Expect.equal (MemoryStorage.firstIndex s) (applied + 1UL) "MemoryStorage.firstIndex s"
            Expect.equal (MemoryStorage.entries applied (applied + 1UL) System.UInt64.MaxValue s) (Error ErrCompacted) "MemoryStorage.entries applied (applied + 1UL) System.UInt64.MaxValue s"
            Expect.equal (MemoryStorage.compact applied s |> Result.map ignore) (Error ErrCompacted) "MemoryStorage.compact applied s |> Result.map ignore"
            Expect.equal (MemoryStorage.term applied s) (Ok 1UL) "MemoryStorage.term applied s"

        testCase "a node restarted from its storage has the same hard state and log" <| fun () ->
            let net = Net.create ids |> Net.elect 2UL |> Net.proposeOk 2UL "a" |> Net.stabilize |> Net.elect 1UL |> Net.proposeOk 1UL "b" |> Net.stabilize
            for id in ids do
                let before = Net.get id net
                let restarted = RawNode.create { Config.defaults id with Applied = Member.appliedIndex before } (Member.storage before)
                let r, r0 = RawNode.raft restarted, Member.raft before
                Expect.equal (r.Term, r.Vote, r.RaftLog.Committed) (r0.Term, r0.Vote, r0.RaftLog.Committed) "(r.Term, r.Vote, r.RaftLog.Committed)"
                Expect.equal (RaftLog.allEntries r.RaftLog |> EntrySeq.toArray) (Member.entries before) "RaftLog.allEntries r.RaftLog |> EntrySeq.toArray"
                Expect.equal r.State StateFollower "r.State"

        testCase "Status shows the leader's view of every peer, and only a leader's" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 3UL ] |> Net.proposeOk 1UL "a" |> Net.stabilize
            let st = RawNode.status (Net.get 1UL net).Rn
            let last = RaftLog.lastIndex (Net.raft 1UL net).RaftLog
            Expect.equal (st.Basic.ID, st.Basic.SoftState.Lead, st.Basic.SoftState.RaftState) (1UL, 1UL, StateLeader) "(st.Basic.ID, st.Basic.SoftState.Lead, st.Basic.SoftState.RaftState)"
            Expect.equal st.Basic.HardState ({ Term = 1UL; Vote = 1UL; Commit = last }) "st.Basic.HardState"
            Expect.equal st.Basic.Applied last "st.Basic.Applied"
            Expect.equal (st.Progress |> Map.toList |> List.map fst) ids "st.Progress |> Map.toList |> List.map fst"
            Expect.equal (st.Progress[2UL].Match, st.Progress[1UL].Match) (last, last) "(st.Progress[2UL].Match, st.Progress[1UL].Match)"
            Expect.isTrue (st.Progress[3UL].Match < last) "st.Progress[3UL].Match < last"
            Expect.equal (Status.toJson st) (sprintf
                    "{\"id\":\"1\",\"term\":1,\"vote\":\"1\",\"commit\":%d,\"lead\":\"1\",\"raftState\":\"StateLeader\",\"applied\":%d,\"progress\":{\"1\":{\"match\":%d,\"next\":%d,\"state\":\"StateReplicate\"},\"2\":{\"match\":%d,\"next\":%d,\"state\":\"StateReplicate\"},\"3\":{\"match\":%d,\"next\":%d,\"state\":\"%s\"}},\"leadtransferee\":\"0\"}"
                    last last last (last + 1UL) last (last + 1UL) st.Progress[3UL].Match st.Progress[3UL].Next (Progress.stateName st.Progress[3UL].State)) "Status.toJson st"
            let follower = RawNode.status (Net.get 2UL net).Rn
            Expect.isTrue follower.Progress.IsEmpty "follower.Progress.IsEmpty"
            Expect.equal (follower.Basic.SoftState.RaftState, follower.Basic.SoftState.Lead) (StateFollower, 1UL) "(follower.Basic.SoftState.RaftState, follower.Basic.SoftState.Lead)"
            Expect.equal (follower.Config.Voters |> JointConfig.ids |> MajorityConfig.toList) ids "follower.Config.Voters |> JointConfig.ids |> MajorityConfig.toList"
    ]
