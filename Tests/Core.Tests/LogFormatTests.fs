/// A panic line that prints a raftpb struct with Go's `%+v`, which no script can reach (a script
/// cannot expect a panic; the log lines with `%v` have scripts under testdata/interaction). The
/// expected text follows Go's fmt rules: ConfState's String() has a pointer receiver, so a
/// ConfState value prints as a struct, its fields in declaration order (Voters, Learners,
/// VotersOutgoing, LearnersNext, AutoLeave), and `%+v` puts `Name:` before each; a []uint64
/// prints `[1 2]`, nil or empty `[]`; a bool `true`/`false`.
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
