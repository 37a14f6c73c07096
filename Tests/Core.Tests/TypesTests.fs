module Raft.Core.Tests.TypesTests

open FsCheck
open FsCheck.FSharp
open Xunit
open Raft.Core
open Raft.Core.Tests.PropertyCheck

let private genBytes = Gen.arrayOf (Gen.choose (0, 255) |> Gen.map byte)
let private genU64 = Gen.oneof [ Gen.constant 0UL; Gen.choose (0, 300) |> Gen.map uint64; ArbMap.defaults |> ArbMap.generate<uint64> ]
let private genType = Gen.elements [ ConfChangeAddNode; ConfChangeRemoveNode; ConfChangeUpdateNode; ConfChangeAddLearnerNode ]

let private genConfChange =
    gen {
        let! id = genU64
        let! t = genType
        let! node = genU64
        let! ctx = genBytes
        return { ID = id; Type = t; NodeID = node; Context = ctx }
    }

let private genConfChangeV2 =
    gen {
        let! tr = Gen.elements [ ConfChangeTransitionAuto; ConfChangeTransitionJointImplicit; ConfChangeTransitionJointExplicit ]
        let! changes = Gen.listOf (Gen.map2 (fun t n -> { Type = t; NodeID = n }) genType genU64)
        let! ctx = genBytes
        return { Transition = tr; Changes = changes; Context = ctx }
    }

/// Round trip of a marshaller/unmarshaller pair over generated conf changes.
let roundTrips marshal unmarshal (cc: ConfChange) = unmarshal (marshal cc) = Ok cc

[<Fact>]
let ``ConfChange marshals and unmarshals to the same value`` () =
    Prop.forAll (Arb.fromGen genConfChange) (roundTrips Codec.marshalConfChange Codec.unmarshalConfChange)
    |> Check.QuickThrowOnFailure

[<Fact>]
let ``the round-trip property catches a marshaller that drops the context`` () =
    let broken (cc: ConfChange) = Codec.marshalConfChange { cc with Context = [||] }
    Assert.True(
        throws (fun () ->
            Prop.forAll (Arb.fromGen genConfChange) (roundTrips broken Codec.unmarshalConfChange)
            |> Check.QuickThrowOnFailure)
    )

[<Fact>]
let ``ConfChangeV2 marshals and unmarshals to the same value`` () =
    Prop.forAll (Arb.fromGen genConfChangeV2) (fun cc -> Codec.unmarshalConfChangeV2 (Codec.marshalConfChangeV2 cc) = Ok cc)
    |> Check.QuickThrowOnFailure

[<Fact>]
let ``ConfChange encoding matches etcd's bytes`` () =
    // etcd: ConfChange{ID: 1, Type: ConfChangeRemoveNode, NodeID: 300}.Marshal()
    let bytes = Codec.marshalConfChange { ID = 1UL; Type = ConfChangeRemoveNode; NodeID = 300UL; Context = [||] }
    Assert.Equal<byte[]>([| 0x08uy; 0x01uy; 0x10uy; 0x01uy; 0x18uy; 0xACuy; 0x02uy |], bytes)
    // An empty ConfChangeV2 (the auto-leave proposal) still writes its transition.
    Assert.Equal<byte[]>([| 0x08uy; 0x00uy |], Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = []; Context = [||] })

[<Fact>]
let ``entry size counts tags, varints and data`` () =
    let e = { Term = 1UL; Index = 300UL; Type = EntryNormal; Data = Array.zeroCreate 200 }
    // type: 2, term: 2, index: 1+2, data: 1+2+200
    Assert.Equal(2 + 2 + 3 + 203, Codec.entrySize e)
    Assert.Equal(2 + 2 + 2, Codec.entrySize { e with Index = 5UL; Data = [||] })

[<Fact>]
let ``truncated conf change data is an error, not an exception`` () =
    let bytes = Codec.marshalConfChange { ID = 1UL; Type = ConfChangeAddNode; NodeID = 300UL; Context = [| 1uy; 2uy |] }
    for cut in 1 .. bytes.Length - 1 do
        match Codec.unmarshalConfChange bytes[.. cut - 1] with
        | Ok cc -> Assert.NotEqual({ ID = 1UL; Type = ConfChangeAddNode; NodeID = 300UL; Context = [| 1uy; 2uy |] }, cc)
        | Error _ -> ()

[<Fact>]
let ``describe prints entries and messages as etcd does`` () =
    let cc = Codec.marshalConfChange { ID = 0UL; Type = ConfChangeAddNode; NodeID = 2UL; Context = [||] }
    let m =
        { Pb.emptyMessage with
            Type = MsgApp; From = 1UL; To = 2UL; Term = 1UL; LogTerm = 1UL; Index = 3UL; Commit = 4UL
            Entries = [| { Term = 1UL; Index = 4UL; Type = EntryConfChange; Data = cc } |] }
    Assert.Equal("1->2 MsgApp Term:1 Log:1/3 Commit:4 Entries:[1/4 EntryConfChange v2]", Describe.message m)
    Assert.Equal("1/3 EntryNormal \"\"", Describe.entry { Term = 1UL; Index = 3UL; Type = EntryNormal; Data = [||] })
    Assert.Equal("1/5 EntryConfChangeV2", Describe.entry { Term = 1UL; Index = 5UL; Type = EntryConfChangeV2; Data = Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = []; Context = [||] } })
    Assert.Equal("1a->b MsgHeartbeat Term:0 Log:0/0", Describe.message { Pb.emptyMessage with Type = MsgHeartbeat; From = 26UL; To = 11UL })

[<Fact>]
let ``quote follows Go's %q`` () =
    Assert.Equal("\"a\\\"b\\\\c\\n\\x00\\xff\"", Describe.quote [| 97uy; 34uy; 98uy; 92uy; 99uy; 10uy; 0uy; 255uy |])
    Assert.Equal("\"é\"", Describe.quote (System.Text.Encoding.UTF8.GetBytes "é"))

[<Fact>]
let ``conf changes parse from and print to etcd's short form`` () =
    let parsed = Describe.confChangesFromString " v1 l2 r3 u4 "
    Assert.Equal(Ok [ { Type = ConfChangeAddNode; NodeID = 1UL }; { Type = ConfChangeAddLearnerNode; NodeID = 2UL }
                      { Type = ConfChangeRemoveNode; NodeID = 3UL }; { Type = ConfChangeUpdateNode; NodeID = 4UL } ], parsed)
    Assert.Equal("v1 l2 r3 u4", parsed |> Result.map Describe.confChangesToString |> Result.defaultValue "")
    Assert.True(Result.isError (Describe.confChangesFromString "x1"))
