module Raft.Core.Tests.TypesTests

open FsCheck
open FsCheck.FSharp
open Xunit
open Raft.Core

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

let private throws (f: unit -> unit) =
    try
        f ()
        false
    with _ -> true

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
