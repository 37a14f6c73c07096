/// Starting, restarting and force-restarting a member, as data.
module Raft.Core.Tests.NodeBootstrapTests

open Expecto
open Raft.Core
open Raft.Core.NodeBootstrap

let private cc (t: ConfChangeType) (node: uint64) =
    { Term = 0UL; Index = 0UL; Type = EntryConfChange; Data = Codec.marshalConfChange { ID = 0UL; Type = t; NodeID = node; Context = [||] } }

let private normal term index = { Term = term; Index = index; Type = EntryNormal; Data = "x"B }

let private withVoters voters =
    Some { Pb.emptySnapshot with Metadata = { Pb.emptySnapshot.Metadata with Index = 3UL; Term = 1UL; ConfState = { Pb.emptyConfState with Voters = voters } } }

let private describe (ents: Entry[]) = Describe.entries ents

[<Tests>]
let tests =
    testList "NodeBootstrap" [
        testCase "a new cluster bootstraps one committed AddNode per peer at term 1" <| fun () ->
            let peers = [ { ID = 3UL; Context = "c3"B }; { ID = 1UL; Context = "c1"B } ]
            let node = startNode { NodeID = 1UL; ClusterID = 7UL } peers
            let boot = node.Bootstrap |> Option.get
            Expect.equal (describe boot.Entries) ("1/1 EntryConfChange v3\n1/2 EntryConfChange v1\n") "describe boot.Entries"
            Expect.equal boot.HardState ({ Term = 1UL; Vote = 0UL; Commit = 2UL }) "boot.HardState"
            Expect.equal boot.ConfState.Voters ([ 1UL; 3UL ]) "boot.ConfState.Voters"
            // The peer's context travels in its conf change.
            Expect.equal (Codec.unmarshalConfChange boot.Entries[0].Data |> Result.map (fun c -> c.Context)) (Ok "c3"B) "the first entry carries its peer's context"
            Expect.equal node.Metadata ({ NodeID = 1UL; ClusterID = 7UL }) "node.Metadata"

        testCase "a member joining an existing cluster starts empty" <| fun () ->
            let node = startNode { NodeID = 4UL; ClusterID = 7UL } []
            Expect.isTrue node.Bootstrap.IsNone "node.Bootstrap.IsNone"

        testCase "a restart gives the storage the WAL's snapshot, hard state and entries" <| fun () ->
            let ents = [| normal 1UL 4UL; normal 1UL 5UL |]
            let image = restartNode (withVoters [ 1UL ]) { Term = 1UL; Vote = 1UL; Commit = 5UL } ents 0UL |> Result.defaultWith failtest
            Expect.equal image.Snapshot.Metadata.Index 3UL "image.Snapshot.Metadata.Index"
            Expect.equal image.HardState ({ Term = 1UL; Vote = 1UL; Commit = 5UL }) "image.HardState"
            Expect.equal image.Entries ents "image.Entries"
            Expect.isTrue (restartNode None Pb.emptyHardState [||] 0UL |> Result.exists (fun i -> Pb.isEmptySnap i.Snapshot)) "a restart with no snapshot has the empty one"

        testCase "getIDs starts from the snapshot's voters and follows v1 conf changes" <| fun () ->
            let ids snap ents = getIDs snap (Array.ofList ents)
            Expect.equal (ids None []) (Ok []) "ids None []"
            Expect.equal (ids (withVoters [ 1UL ]) []) (Ok [ 1UL ]) "ids (withVoters [ 1UL ]) []"
            Expect.equal (ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL ]) (Ok [ 1UL; 2UL ]) "ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL ]"
            Expect.equal (ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL; cc ConfChangeRemoveNode 2UL ]) (Ok [ 1UL ]) "added then removed: only node 1"
            Expect.equal (ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL; normal 1UL 5UL; cc ConfChangeUpdateNode 2UL ]) (Ok [ 1UL; 2UL ]) "an update keeps the added node"
            Expect.equal (ids (withVoters [ 1UL ]) [ cc ConfChangeAddLearnerNode 5UL ]) (Ok [ 1UL; 5UL ]) "ids (withVoters [ 1UL ]) [ cc ConfChangeAddLearnerNode 5UL ]"
            // Sorted, whatever the order they came in.
            Expect.equal (ids (withVoters [ 9UL; 1UL ]) [ cc ConfChangeAddNode 2UL ]) (Ok [ 1UL; 2UL; 9UL ]) "ids (withVoters [ 9UL; 1UL ]) [ cc ConfChangeAddNode 2UL ]"
            // v2 conf changes are not looked at (etcd proposes none).
            let v2 = { Term = 1UL; Index = 6UL; Type = EntryConfChangeV2; Data = Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = [ { Type = ConfChangeAddNode; NodeID = 8UL } ]; Context = [||] } }
            Expect.equal (ids (withVoters [ 1UL ]) [ v2 ]) (Ok [ 1UL ]) "ids (withVoters [ 1UL ]) [ v2 ]"

        testCase "getIDs reports a conf change it cannot decode" <| fun () ->
            let bad = { Term = 1UL; Index = 6UL; Type = EntryConfChange; Data = [| 0x10uy; 0x09uy |] }
            match getIDs None [| bad |] with
            | Error e -> Expect.stringContains e "1/6" "the error names the entry"
            | Ok ids -> failtest (sprintf "decoded %A" ids)

        testCase "createConfigChangeEnts adds self first, then removes the others" <| fun () ->
            let ents ids self term index = createConfigChangeEnts ids self "self"B term index |> describe
            Expect.equal (ents [ 1UL ] 1UL 1UL 1UL) "" "ents [ 1UL ] 1UL 1UL 1UL"
            Expect.equal (ents [ 1UL; 2UL ] 1UL 1UL 1UL) ("1/2 EntryConfChange r2\n") "ents [ 1UL; 2UL ] 1UL 1UL 1UL"
            Expect.equal (ents [ 1UL; 2UL; 3UL ] 1UL 2UL 2UL) ("2/3 EntryConfChange r2\n2/4 EntryConfChange r3\n") "ents [ 1UL; 2UL; 3UL ] 1UL 2UL 2UL"
            Expect.equal (ents [ 2UL; 3UL ] 2UL 2UL 2UL) ("2/3 EntryConfChange r3\n") "ents [ 2UL; 3UL ] 2UL 2UL 2UL"
            Expect.equal (ents [ 2UL; 3UL ] 1UL 2UL 2UL) ("2/3 EntryConfChange v1\n2/4 EntryConfChange r2\n2/5 EntryConfChange r3\n") "ents [ 2UL; 3UL ] 1UL 2UL 2UL"
            let added = createConfigChangeEnts [ 2UL ] 1UL "self"B 2UL 2UL
            Expect.equal (Codec.unmarshalConfChange added[0].Data |> Result.map (fun c -> c.Context)) (Ok "self"B) "the local member carries its context"
            // A removal carries no context.
            Expect.equal (Codec.unmarshalConfChange added[1].Data |> Result.map (fun c -> c.Context)) (Ok [||]) "a removal carries no context"

        testCase "a forced restart keeps the entries past the commit index and commits a one-member configuration after them" <| fun () ->
            // Snapshot at 3 with voters 1 2 3; the WAL adds 4, removes 3 and holds two entries past commit 6.
            let walEntries =
                [| normal 1UL 4UL
                   { cc ConfChangeAddNode 4UL with Term = 1UL; Index = 5UL }
                   { cc ConfChangeRemoveNode 3UL with Term = 2UL; Index = 6UL }
                   normal 2UL 7UL
                   normal 2UL 8UL |]
            let hs = { Term = 2UL; Vote = 1UL; Commit = 6UL }
            match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL; 3UL ]) hs walEntries 0UL with
            | Error e -> failtest e
            | Ok r ->
                Expect.equal r.KeptPastCommit 2 "r.KeptPastCommit"
                Expect.equal r.MemberIDs ([ 1UL; 2UL; 4UL ]) "r.MemberIDs"
                Expect.equal (describe r.WalEntries) ("2/9 EntryConfChange r2\n2/10 EntryConfChange r4\n") "describe r.WalEntries"
                Expect.equal (describe r.Storage.Entries) ("1/4 EntryNormal \"x\"\n1/5 EntryConfChange v4\n2/6 EntryConfChange r3\n2/7 EntryNormal \"x\"\n2/8 EntryNormal \"x\"\n2/9 EntryConfChange r2\n2/10 EntryConfChange r4\n") "describe r.Storage.Entries"
                Expect.equal r.Storage.HardState ({ hs with Commit = 10UL }) "r.Storage.HardState"
                Expect.equal r.Storage.Snapshot.Metadata.Index 3UL "r.Storage.Snapshot.Metadata.Index"

        testCase "a forced restart counts conf changes past the commit index in the membership" <| fun () ->
            // Adding 5 was never known to be committed; it is kept, so 5 is removed by a forced conf change.
            let walEntries = [| normal 1UL 4UL; { cc ConfChangeAddNode 5UL with Term = 1UL; Index = 5UL } |]
            match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL ]) { Term = 1UL; Vote = 1UL; Commit = 4UL } walEntries 0UL with
            | Error e -> failtest e
            | Ok r ->
                Expect.equal r.MemberIDs ([ 1UL; 2UL; 5UL ]) "r.MemberIDs"
                Expect.equal (describe r.WalEntries) ("1/6 EntryConfChange r2\n1/7 EntryConfChange r5\n") "describe r.WalEntries"

        testCase "a forced restart of a member its log removes is refused, past the commit index too" <| fun () ->
            let walEntries = [| normal 1UL 4UL; normal 2UL 5UL; { cc ConfChangeRemoveNode 1UL with Term = 2UL; Index = 6UL }; normal 2UL 7UL |]
            for commit in [ 4UL; 7UL ] do
                match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL; 3UL ]) { Term = 2UL; Vote = 1UL; Commit = commit } walEntries 0UL with
                | Error e -> Expect.stringContains e "removes member 1 at 2/6" "the error names the removal"
                | Ok r -> failtest (sprintf "forced with commit %d: %s" commit (describe r.Storage.Entries))
            // Removing another member is no reason to refuse.
            let other = walEntries |> Array.map (fun e -> if e.Index = 6UL then { cc ConfChangeRemoveNode 3UL with Term = 2UL; Index = 6UL } else e)
            Expect.isOk (restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL; 3UL ]) { Term = 2UL; Vote = 1UL; Commit = 4UL } other 0UL) "removing member 3"

        testCase "a forced restart of a member the log never added adds it first" <| fun () ->
            match restartAsStandaloneNode 5UL "self"B None { Term = 3UL; Vote = 0UL; Commit = 2UL } [| { cc ConfChangeAddNode 2UL with Term = 1UL; Index = 1UL }; normal 3UL 2UL |] 0UL with
            | Error e -> failtest e
            | Ok r ->
                Expect.equal r.KeptPastCommit 0 "r.KeptPastCommit"
                Expect.equal (describe r.WalEntries) ("3/3 EntryConfChange v5\n3/4 EntryConfChange r2\n") "describe r.WalEntries"
                Expect.equal r.Storage.HardState.Commit 4UL "r.Storage.HardState.Commit"

        testCase "a forced restart with nothing in the WAL keeps the commit index" <| fun () ->
            match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL ]) { Term = 1UL; Vote = 1UL; Commit = 3UL } [||] 0UL with
            | Error e -> failtest e
            | Ok r ->
                Expect.isEmpty r.WalEntries "r.WalEntries"
                Expect.isEmpty r.Storage.Entries "r.Storage.Entries"
                Expect.equal r.Storage.HardState.Commit 3UL "r.Storage.HardState.Commit"
    
        testCase "a restart raises the commit index to what the state machine holds durably" <| fun () ->
            let ents = [| normal 1UL 4UL; normal 1UL 5UL; normal 1UL 6UL |]
            let hs = { Term = 1UL; Vote = 1UL; Commit = 4UL }
            match restartNode (withVoters [ 1UL ]) hs ents 6UL with
            | Error e -> failtest e
            | Ok image -> Expect.equal image.HardState.Commit 6UL "the durable applied index is committed"
            match restartNode (withVoters [ 1UL ]) hs ents 2UL with
            | Error e -> failtest e
            | Ok image -> Expect.equal image.HardState.Commit 4UL "an applied index below the WAL's commit changes nothing"
            Expect.isError (restartNode (withVoters [ 1UL ]) hs ents 7UL) "a state machine ahead of the log is refused"

        testCase "a forced restart keeps the entries the state machine applied past the WAL's commit index, and those after" <| fun () ->
            // The WAL's last commit-only hard state (commit 7) was lost; the store applied 7.
            let walEntries = [| normal 1UL 4UL; normal 1UL 5UL; normal 1UL 6UL; normal 1UL 7UL; normal 1UL 8UL |]
            let hs = { Term = 1UL; Vote = 1UL; Commit = 6UL }
            match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL; 3UL ]) hs walEntries 7UL with
            | Error e -> failtest e
            | Ok r ->
                Expect.equal r.KeptPastCommit 1 "only entry 8 is past what the store applied"
                Expect.equal r.Storage.Entries[.. 4] walEntries "every WAL entry is kept"
                Expect.equal (describe r.WalEntries) ("1/9 EntryConfChange r2\n1/10 EntryConfChange r3\n") "the forced conf changes follow the last entry"
                Expect.equal r.Storage.HardState.Commit 10UL "r.Storage.HardState.Commit"
            Expect.isError (restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL; 3UL ]) hs walEntries 9UL) "a state machine ahead of the log is refused"
    ]
