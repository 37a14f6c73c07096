module Raft.Core.Tests.TypesTests

open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

let private genBytes = Gen.array (Range.linear 0 32) (Gen.byte (Range.constantBounded ()))
let private genU64 =
    Gen.choice [ Gen.constant 0UL; Gen.uint64 (Range.linear 0UL 300UL); Gen.uint64 (Range.constantBounded ()) ]
let private genType = Gen.item [ ConfChangeAddNode; ConfChangeRemoveNode; ConfChangeUpdateNode; ConfChangeAddLearnerNode ]

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
        let! tr = Gen.item [ ConfChangeTransitionAuto; ConfChangeTransitionJointImplicit; ConfChangeTransitionJointExplicit ]
        let! changes = Gen.list (Range.linear 0 8) (Gen.map2 (fun t n -> { Type = t; NodeID = n }) genType genU64)
        let! ctx = genBytes
        return { Transition = tr; Changes = changes; Context = ctx }
    }

/// Round trip of a marshaller/unmarshaller pair over generated conf changes.
let roundTrips marshal unmarshal = property {
    let! cc = genConfChange
    return unmarshal (marshal cc) = Ok cc }

[<Tests>]
let tests =
    testList "Types" [
        testCase "ConfChange marshals and unmarshals to the same value" <| fun () ->
            Hog.holdsBool (roundTrips Codec.marshalConfChange Codec.unmarshalConfChange)

        testCase "the round-trip property catches a marshaller that drops the context" <| fun () ->
            let broken (cc: ConfChange) = Codec.marshalConfChange { cc with Context = [||] }
            Expect.isTrue (Hog.caughtBool (roundTrips broken Codec.unmarshalConfChange)) "a marshaller that drops the context is caught"

        testCase "ConfChangeV2 marshals and unmarshals to the same value" <| fun () ->
            Hog.holdsBool (property {
                let! cc = genConfChangeV2
                return Codec.unmarshalConfChangeV2 (Codec.marshalConfChangeV2 cc) = Ok cc })

        testCase "ConfChange encoding matches etcd's bytes" <| fun () ->
            // etcd: ConfChange{ID: 1, Type: ConfChangeRemoveNode, NodeID: 300}.Marshal()
            let bytes = Codec.marshalConfChange { ID = 1UL; Type = ConfChangeRemoveNode; NodeID = 300UL; Context = [||] }
            Expect.equal bytes [| 0x08uy; 0x01uy; 0x10uy; 0x01uy; 0x18uy; 0xACuy; 0x02uy |] "etcd's bytes"
            // An empty ConfChangeV2 (the auto-leave proposal) still writes its transition.
            Expect.equal (Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = []; Context = [||] }) [| 0x08uy; 0x00uy |] "the transition is written"

        testCase "entry size counts tags, varints and data" <| fun () ->
            let e = { Term = 1UL; Index = 300UL; Type = EntryNormal; Data = Array.zeroCreate 200 }
            // type: 2, term: 2, index: 1+2, data: 1+2+200
            Expect.equal (Codec.entrySize e) (2 + 2 + 3 + 203) "with data"
            Expect.equal (Codec.entrySize { e with Index = 5UL; Data = [||] }) (2 + 2 + 2) "without data"

        testCase "truncated conf change data is an error, not an exception" <| fun () ->
            let whole = { ID = 1UL; Type = ConfChangeAddNode; NodeID = 300UL; Context = [| 1uy; 2uy |] }
            let bytes = Codec.marshalConfChange whole
            for cut in 1 .. bytes.Length - 1 do
                match Codec.unmarshalConfChange bytes[.. cut - 1] with
                | Ok cc -> Expect.notEqual cc whole (sprintf "a cut at %d does not decode to the whole" cut)
                | Error _ -> ()

        testCase "describe prints entries and messages as etcd does" <| fun () ->
            let cc = Codec.marshalConfChange { ID = 0UL; Type = ConfChangeAddNode; NodeID = 2UL; Context = [||] }
            let m =
                { Pb.emptyMessage with
                    Type = MsgApp; From = 1UL; To = 2UL; Term = 1UL; LogTerm = 1UL; Index = 3UL; Commit = 4UL
                    Entries = [| { Term = 1UL; Index = 4UL; Type = EntryConfChange; Data = cc } |] }
            Expect.equal (Describe.message m) "1->2 MsgApp Term:1 Log:1/3 Commit:4 Entries:[1/4 EntryConfChange v2]" "MsgApp"
            Expect.equal (Describe.entry { Term = 1UL; Index = 3UL; Type = EntryNormal; Data = [||] }) "1/3 EntryNormal \"\"" "empty normal entry"
            Expect.equal (Describe.entry { Term = 1UL; Index = 5UL; Type = EntryConfChangeV2; Data = Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = []; Context = [||] } }) "1/5 EntryConfChangeV2" "v2 entry"
            Expect.equal (Describe.message { Pb.emptyMessage with Type = MsgHeartbeat; From = 26UL; To = 11UL }) "1a->b MsgHeartbeat Term:0 Log:0/0" "hex ids"

        testCase "quote follows Go's %q" <| fun () ->
            Expect.equal (Describe.quote [| 97uy; 34uy; 98uy; 92uy; 99uy; 10uy; 0uy; 255uy |]) "\"a\\\"b\\\\c\\n\\x00\\xff\"" "escapes"
            Expect.equal (Describe.quote (System.Text.Encoding.UTF8.GetBytes "é")) "\"é\"" "UTF-8 kept"

        testCase "conf changes parse from and print to etcd's short form" <| fun () ->
            let parsed = Describe.confChangesFromString " v1 l2 r3 u4 "
            Expect.equal parsed (Ok [ { Type = ConfChangeAddNode; NodeID = 1UL }; { Type = ConfChangeAddLearnerNode; NodeID = 2UL }
                                      { Type = ConfChangeRemoveNode; NodeID = 3UL }; { Type = ConfChangeUpdateNode; NodeID = 4UL } ]) "parsed"
            Expect.equal (parsed |> Result.map Describe.confChangesToString |> Result.defaultValue "") "v1 l2 r3 u4" "printed"
            Expect.isTrue (Result.isError (Describe.confChangesFromString "x1")) "an unknown change is an error"
    ]
