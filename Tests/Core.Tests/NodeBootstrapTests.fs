/// Starting, restarting and force-restarting a member, as data.
module Raft.Core.Tests.NodeBootstrapTests

open Xunit
open Raft.Core
open Raft.Core.NodeBootstrap

let private cc (t: ConfChangeType) (node: uint64) =
    { Term = 0UL; Index = 0UL; Type = EntryConfChange; Data = Codec.marshalConfChange { ID = 0UL; Type = t; NodeID = node; Context = [||] } }

let private normal term index = { Term = term; Index = index; Type = EntryNormal; Data = "x"B }

let private withVoters voters =
    Some { Pb.emptySnapshot with Metadata = { Pb.emptySnapshot.Metadata with Index = 3UL; Term = 1UL; ConfState = { Pb.emptyConfState with Voters = voters } } }

let private describe (ents: Entry[]) = Describe.entries ents

[<Fact>]
let ``a new cluster bootstraps one committed AddNode per peer at term 1`` () =
    let peers = [ { ID = 3UL; Context = "c3"B }; { ID = 1UL; Context = "c1"B } ]
    let node = startNode { NodeID = 1UL; ClusterID = 7UL } peers
    let boot = node.Bootstrap |> Option.get
    Assert.Equal("1/1 EntryConfChange v3\n1/2 EntryConfChange v1\n", describe boot.Entries)
    Assert.Equal({ Term = 1UL; Vote = 0UL; Commit = 2UL }, boot.HardState)
    Assert.Equal<uint64 list>([ 1UL; 3UL ], boot.ConfState.Voters)
    // The peer's context travels in its conf change.
    Assert.Equal(Ok "c3"B, Codec.unmarshalConfChange boot.Entries[0].Data |> Result.map (fun c -> c.Context))
    Assert.Equal({ NodeID = 1UL; ClusterID = 7UL }, node.Metadata)

[<Fact>]
let ``a member joining an existing cluster starts empty`` () =
    let node = startNode { NodeID = 4UL; ClusterID = 7UL } []
    Assert.True(node.Bootstrap.IsNone)

[<Fact>]
let ``a restart gives the storage the WAL's snapshot, hard state and entries`` () =
    let ents = [| normal 1UL 4UL; normal 1UL 5UL |]
    let image = restartNode (withVoters [ 1UL ]) { Term = 1UL; Vote = 1UL; Commit = 5UL } ents
    Assert.Equal(3UL, image.Snapshot.Metadata.Index)
    Assert.Equal({ Term = 1UL; Vote = 1UL; Commit = 5UL }, image.HardState)
    Assert.Equal<Entry[]>(ents, image.Entries)
    Assert.True(Pb.isEmptySnap (restartNode None Pb.emptyHardState [||]).Snapshot)

[<Fact>]
let ``getIDs starts from the snapshot's voters and follows v1 conf changes`` () =
    let ids snap ents = getIDs snap (Array.ofList ents)
    Assert.Equal(Ok [], ids None [])
    Assert.Equal(Ok [ 1UL ], ids (withVoters [ 1UL ]) [])
    Assert.Equal(Ok [ 1UL; 2UL ], ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL ])
    Assert.Equal(Ok [ 1UL ], ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL; cc ConfChangeRemoveNode 2UL ])
    Assert.Equal(Ok [ 1UL; 2UL ], ids (withVoters [ 1UL ]) [ cc ConfChangeAddNode 2UL; normal 1UL 5UL; cc ConfChangeUpdateNode 2UL ])
    Assert.Equal(Ok [ 1UL; 5UL ], ids (withVoters [ 1UL ]) [ cc ConfChangeAddLearnerNode 5UL ])
    // Sorted, whatever the order they came in.
    Assert.Equal(Ok [ 1UL; 2UL; 9UL ], ids (withVoters [ 9UL; 1UL ]) [ cc ConfChangeAddNode 2UL ])
    // v2 conf changes are not looked at (etcd proposes none).
    let v2 = { Term = 1UL; Index = 6UL; Type = EntryConfChangeV2; Data = Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = [ { Type = ConfChangeAddNode; NodeID = 8UL } ]; Context = [||] } }
    Assert.Equal(Ok [ 1UL ], ids (withVoters [ 1UL ]) [ v2 ])

[<Fact>]
let ``getIDs reports a conf change it cannot decode`` () =
    let bad = { Term = 1UL; Index = 6UL; Type = EntryConfChange; Data = [| 0x10uy; 0x09uy |] }
    match getIDs None [| bad |] with
    | Error e -> Assert.Contains("1/6", e)
    | Ok ids -> Assert.Fail(sprintf "decoded %A" ids)

[<Fact>]
let ``createConfigChangeEnts adds self first, then removes the others`` () =
    let ents ids self term index = createConfigChangeEnts ids self "self"B term index |> describe
    Assert.Equal("", ents [ 1UL ] 1UL 1UL 1UL)
    Assert.Equal("1/2 EntryConfChange r2\n", ents [ 1UL; 2UL ] 1UL 1UL 1UL)
    Assert.Equal("2/3 EntryConfChange r2\n2/4 EntryConfChange r3\n", ents [ 1UL; 2UL; 3UL ] 1UL 2UL 2UL)
    Assert.Equal("2/3 EntryConfChange r3\n", ents [ 2UL; 3UL ] 2UL 2UL 2UL)
    Assert.Equal("2/3 EntryConfChange v1\n2/4 EntryConfChange r2\n2/5 EntryConfChange r3\n", ents [ 2UL; 3UL ] 1UL 2UL 2UL)
    let added = createConfigChangeEnts [ 2UL ] 1UL "self"B 2UL 2UL
    Assert.Equal(Ok "self"B, Codec.unmarshalConfChange added[0].Data |> Result.map (fun c -> c.Context))
    // A removal carries no context.
    Assert.Equal(Ok [||], Codec.unmarshalConfChange added[1].Data |> Result.map (fun c -> c.Context))

[<Fact>]
let ``a forced restart drops uncommitted entries and commits a one-member configuration`` () =
    // Snapshot at 3 with voters 1 2 3; the WAL adds 4, removes 3 and holds two entries past commit 6.
    let walEntries =
        [| normal 1UL 4UL
           { cc ConfChangeAddNode 4UL with Term = 1UL; Index = 5UL }
           { cc ConfChangeRemoveNode 3UL with Term = 2UL; Index = 6UL }
           normal 2UL 7UL
           { cc ConfChangeRemoveNode 1UL with Term = 2UL; Index = 8UL } |]
    let hs = { Term = 2UL; Vote = 1UL; Commit = 6UL }
    match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL; 2UL; 3UL ]) hs walEntries with
    | Error e -> Assert.Fail e
    | Ok r ->
        Assert.Equal(2, r.DiscardedEntries)
        Assert.Equal<uint64 list>([ 1UL; 2UL; 4UL ], r.MemberIDs)
        Assert.Equal("2/7 EntryConfChange r2\n2/8 EntryConfChange r4\n", describe r.WalEntries)
        Assert.Equal(
            "1/4 EntryNormal \"x\"\n1/5 EntryConfChange v4\n2/6 EntryConfChange r3\n2/7 EntryConfChange r2\n2/8 EntryConfChange r4\n",
            describe r.Storage.Entries
        )
        Assert.Equal({ hs with Commit = 8UL }, r.Storage.HardState)
        Assert.Equal(3UL, r.Storage.Snapshot.Metadata.Index)

[<Fact>]
let ``a forced restart of a member the log never added adds it first`` () =
    match restartAsStandaloneNode 5UL "self"B None { Term = 3UL; Vote = 0UL; Commit = 2UL } [| { cc ConfChangeAddNode 2UL with Term = 1UL; Index = 1UL }; normal 3UL 2UL |] with
    | Error e -> Assert.Fail e
    | Ok r ->
        Assert.Equal(0, r.DiscardedEntries)
        Assert.Equal("3/3 EntryConfChange v5\n3/4 EntryConfChange r2\n", describe r.WalEntries)
        Assert.Equal(4UL, r.Storage.HardState.Commit)

[<Fact>]
let ``a forced restart with nothing in the WAL keeps the commit index`` () =
    match restartAsStandaloneNode 1UL "self"B (withVoters [ 1UL ]) { Term = 1UL; Vote = 1UL; Commit = 3UL } [||] with
    | Error e -> Assert.Fail e
    | Ok r ->
        Assert.Empty(r.WalEntries)
        Assert.Empty(r.Storage.Entries)
        Assert.Equal(3UL, r.Storage.HardState.Commit)
