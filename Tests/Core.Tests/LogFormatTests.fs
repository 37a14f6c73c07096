/// Log and panic lines that print a raftpb struct with Go's `%v` or `%+v`, where no script can
/// reach them (a leader never sends a snapshot its receiver is not in, and a valid snapshot always
/// restores). The expected text follows Go's fmt rules: ConfState's String() has a pointer
/// receiver, so a ConfState value prints as a struct, its fields in declaration order (Voters,
/// Learners, VotersOutgoing, LearnersNext, AutoLeave); `%v` without names, `%+v` with `Name:`
/// before each; a []uint64 prints `[1 2]`, nil or empty `[]`; a bool `true`/`false`.
module Raft.Core.Tests.LogFormatTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

/// A follower, node 1 of voters (1 2), at term 0 with the initial membership at index 1.
let private follower () = (Member.create (Config.defaults 1UL) (Member.confState [ 1UL; 2UL ] [])).Rn

/// A snapshot from node 2 at term 1 that the follower does not hold yet.
let private snapshotMessage (cs: ConfState) =
    { Pb.emptyMessage with
        Type = MsgSnap
        From = 2UL
        To = 1UL
        Term = 1UL
        Snapshot = { Data = [||]; Metadata = { ConfState = cs; Index = 10UL; Term = 1UL } } }

[<Tests>]
let tests =
    testList "LogFormat" [
        // raft.go restore: r.logger.Warningf("... not in the ConfState %v; ...", r.id, cs)
        testCase "a snapshot that leaves the node out is logged with Go's %v of the ConfState" <| fun () ->
            let cs = { Pb.emptyConfState with Voters = [ 2UL; 3UL ]; Learners = [ 4UL ]; VotersOutgoing = [ 2UL; 5UL ]; LearnersNext = [ 5UL ]; AutoLeave = true }
            let struct (rn, _) = RawNode.step (snapshotMessage cs) (follower ())
            let struct (lines, _) = RawNode.drainLogs rn
            let expected = "1 attempted to restore snapshot but it is not in the ConfState {[2 3] [4] [2 5] [5] true}; should never happen"
            Expect.contains (lines |> List.map (fun l -> l.Level, l.Text)) (LogLevel.Warn, expected) "the warning, as etcd prints it"

        // raft.go restore: panic(fmt.Sprintf("unable to restore config %+v: %s", cs, err))
        testCase "a snapshot whose ConfState cannot be restored panics with Go's %+v of the ConfState" <| fun () ->
            // Node 1 only a learner, no voters: the changer refuses to remove all voters.
            let cs = { Pb.emptyConfState with Learners = [ 1UL ] }
            let expected = "unable to restore config {Voters:[] Learners:[1] VotersOutgoing:[] LearnersNext:[] AutoLeave:false}: removed all voters"
            let raised =
                try
                    RawNode.step (snapshotMessage cs) (follower ()) |> ignore
                    None
                with BrokenInvariant text -> Some text
            Expect.equal raised (Some expected) "the panic's text, as etcd's"
    ]
