/// The little of protobuf that Core itself needs: conf changes travel inside entries as marshalled
/// bytes, and etcd limits message sizes by an entry's encoded size. Encodings are etcd's (gogoproto,
/// proto2): non-nullable scalars always written, in field-number order; empty bytes are omitted.
/// Core's varint is its own (Core depends on FSharp.Core only); the C# side has one other, shared
/// by the WAL and snap files (Shell/IO/Varint.cs), and Google.Protobuf's everywhere else.
module Raft.Core.Codec

open System

/// Bytes a varint takes on the wire.
let varintSize (v: uint64) =
    let mutable n = 1
    let mutable x = v >>> 7
    while x <> 0UL do
        n <- n + 1
        x <- x >>> 7
    n

/// etcd's Entry.Size(): the marshalled size of an entry.
let entrySize (e: Entry) =
    let fixedPart =
        1 + varintSize (uint64 (Pb.entryTypeNumber e.Type)) + 1 + varintSize e.Term + 1 + varintSize e.Index
    if e.Data.Length = 0 then fixedPart
    else fixedPart + 1 + varintSize (uint64 e.Data.Length) + e.Data.Length

/// Sum of `entrySize` over entries.
let entriesSize (ents: Entry seq) =
    let mutable s = 0UL
    for e in ents do
        s <- s + uint64 (entrySize e)
    s

type private Writer() =
    let buf = Collections.Generic.List<byte>(32)
    member _.Varint(v: uint64) =
        let mutable x = v
        while x >= 0x80UL do
            buf.Add(byte (x &&& 0x7FUL ||| 0x80UL))
            x <- x >>> 7
        buf.Add(byte x)
    member w.Tag(field: int, wireType: int) = w.Varint(uint64 ((field <<< 3) ||| wireType))
    member w.UInt(field, v: uint64) =
        w.Tag(field, 0)
        w.Varint v
    member w.Bytes(field, b: byte[]) =
        w.Tag(field, 2)
        w.Varint(uint64 b.Length)
        buf.AddRange b
    member w.OptionalBytes(field, b: byte[]) = if b.Length > 0 then w.Bytes(field, b)
    member _.ToArray() = buf.ToArray()

/// One decoded field: number and either a varint or a length-delimited payload.
type private Field =
    | VarintField of int * uint64
    | BytesField of int * byte[]

let private readFields (data: byte[]) : Result<Field list, string> =
    let mutable pos = 0
    let mutable err = None
    let fields = Collections.Generic.List<Field>()
    let readVarint () =
        let mutable result = 0UL
        let mutable shift = 0
        let mutable fin = false
        while not fin && err.IsNone do
            if pos >= data.Length then err <- Some "unexpected EOF"
            elif shift >= 64 then err <- Some "proto: integer overflow"
            else
                let b = data[pos]
                pos <- pos + 1
                result <- result ||| (uint64 (b &&& 0x7Fuy) <<< shift)
                shift <- shift + 7
                if b < 0x80uy then fin <- true
        result
    while pos < data.Length && err.IsNone do
        let key = readVarint ()
        if err.IsNone then
            let field = int (key >>> 3)
            match int (key &&& 7UL) with
            | 0 ->
                let v = readVarint ()
                if err.IsNone then fields.Add(VarintField(field, v))
            | 2 ->
                let len = readVarint ()
                if err.IsNone then
                    if len > uint64 (data.Length - pos) then err <- Some "unexpected EOF"
                    else
                        fields.Add(BytesField(field, data[pos .. pos + int len - 1]))
                        pos <- pos + int len
            | 1 -> if pos + 8 > data.Length then err <- Some "unexpected EOF" else pos <- pos + 8
            | 5 -> if pos + 4 > data.Length then err <- Some "unexpected EOF" else pos <- pos + 4
            | wt -> err <- Some(sprintf "proto: illegal wireType %d" wt)
    match err with
    | Some e -> Error e
    | None -> Ok(List.ofSeq fields)

/// Marshals a ConfChange as etcd does.
let marshalConfChange (cc: ConfChange) : byte[] =
    let w = Writer()
    w.UInt(1, cc.ID)
    w.UInt(2, uint64 (Pb.confChangeTypeNumber cc.Type))
    w.UInt(3, cc.NodeID)
    w.OptionalBytes(4, cc.Context)
    w.ToArray()

let private confChangeType (v: uint64) =
    match Pb.confChangeTypeOfNumber (int v) with
    | Some t when v < 4UL -> Ok t
    | _ -> Error(sprintf "unknown ConfChangeType %d" v)

/// Unmarshals a ConfChange; a malformed payload is an error value.
let unmarshalConfChange (data: byte[]) : Result<ConfChange, string> =
    readFields data
    |> Result.bind (fun fields ->
        let folder acc f =
            acc
            |> Result.bind (fun (cc: ConfChange) ->
                match f with
                | VarintField(1, v) -> Ok { cc with ID = v }
                | VarintField(2, v) -> confChangeType v |> Result.map (fun t -> { cc with Type = t })
                | VarintField(3, v) -> Ok { cc with NodeID = v }
                | BytesField(4, b) -> Ok { cc with Context = b }
                | _ -> Ok cc)
        List.fold folder (Ok { ID = 0UL; Type = ConfChangeAddNode; NodeID = 0UL; Context = [||] }) fields)

/// Marshals a ConfChangeV2 as etcd does.
let marshalConfChangeV2 (cc: ConfChangeV2) : byte[] =
    let w = Writer()
    w.UInt(1, uint64 (Pb.confChangeTransitionNumber cc.Transition))
    for c in cc.Changes do
        let inner = Writer()
        inner.UInt(1, uint64 (Pb.confChangeTypeNumber c.Type))
        inner.UInt(2, c.NodeID)
        w.Bytes(2, inner.ToArray())
    w.OptionalBytes(3, cc.Context)
    w.ToArray()

let private unmarshalSingle (data: byte[]) : Result<ConfChangeSingle, string> =
    readFields data
    |> Result.bind (fun fields ->
        let folder acc f =
            acc
            |> Result.bind (fun (c: ConfChangeSingle) ->
                match f with
                | VarintField(1, v) -> confChangeType v |> Result.map (fun t -> { c with Type = t })
                | VarintField(2, v) -> Ok { c with NodeID = v }
                | _ -> Ok c)
        List.fold folder (Ok { Type = ConfChangeAddNode; NodeID = 0UL }) fields)

/// Unmarshals a ConfChangeV2; a malformed payload is an error value.
let unmarshalConfChangeV2 (data: byte[]) : Result<ConfChangeV2, string> =
    readFields data
    |> Result.bind (fun fields ->
        let folder acc f =
            acc
            |> Result.bind (fun (cc: ConfChangeV2, changes: ConfChangeSingle list) ->
                match f with
                | VarintField(1, v) ->
                    match Pb.confChangeTransitionOfNumber (int v) with
                    | Some t when v < 3UL -> Ok({ cc with Transition = t }, changes)
                    | _ -> Error(sprintf "unknown ConfChangeTransition %d" v)
                | BytesField(2, b) -> unmarshalSingle b |> Result.map (fun c -> cc, c :: changes)
                | BytesField(3, b) -> Ok({ cc with Context = b }, changes)
                | _ -> Ok(cc, changes))
        List.fold folder (Ok({ Transition = ConfChangeTransitionAuto; Changes = []; Context = [||] }, [])) fields
        |> Result.map (fun (cc, changes) -> { cc with Changes = List.rev changes }))

/// etcd's MarshalConfChange: the entry type and payload for either kind of conf change.
let marshalConfChangeI (cc: ConfChangeI) : EntryType * byte[] =
    match cc with
    | V1 c -> EntryConfChange, marshalConfChange c
    | V2 c -> EntryConfChangeV2, marshalConfChangeV2 c

/// The conf change an entry carries, if it is a conf-change entry.
let confChangeOfEntry (e: Entry) : Result<ConfChangeI, string> option =
    match e.Type with
    | EntryNormal -> None
    | EntryConfChange -> Some(unmarshalConfChange e.Data |> Result.map V1)
    | EntryConfChangeV2 -> Some(unmarshalConfChangeV2 e.Data |> Result.map V2)
