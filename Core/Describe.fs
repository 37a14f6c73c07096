/// Text forms of the raftpb vocabulary exactly as etcd raft prints them (util.go's Describe*), so
/// that test output and log lines match etcd's byte for byte.
module Raft.Core.Describe

open System
open System.Text

/// Formats an entry's payload; etcd's EntryFormatter.
type EntryFormatter = byte[] -> string

/// Go's `%q` of a byte slice (strconv.Quote of the bytes read as UTF-8).
let quote (data: byte[]) =
    let sb = StringBuilder(data.Length + 2)
    sb.Append('"') |> ignore
    let mutable i = 0
    while i < data.Length do
        let b = data[i]
        if b < 0x80uy then
            match char b with
            | '"' -> sb.Append("\\\"") |> ignore
            | '\\' -> sb.Append("\\\\") |> ignore
            | '\a' -> sb.Append("\\a") |> ignore
            | '\b' -> sb.Append("\\b") |> ignore
            | '\f' -> sb.Append("\\f") |> ignore
            | '\n' -> sb.Append("\\n") |> ignore
            | '\r' -> sb.Append("\\r") |> ignore
            | '\t' -> sb.Append("\\t") |> ignore
            | '\v' -> sb.Append("\\v") |> ignore
            | c when b >= 0x20uy && b < 0x7Fuy -> sb.Append(c) |> ignore
            | _ -> sb.AppendFormat("\\x{0:x2}", b) |> ignore
            i <- i + 1
        else
            // Decode one UTF-8 sequence; an invalid byte is printed as \xNN on its own.
            let status, rune, consumed =
                Text.Rune.DecodeFromUtf8(ReadOnlySpan(data, i, data.Length - i))
            if status = Buffers.OperationStatus.Done then
                let cat = Text.Rune.GetUnicodeCategory rune
                let printable =
                    match cat with
                    | Globalization.UnicodeCategory.Control
                    | Globalization.UnicodeCategory.Format
                    | Globalization.UnicodeCategory.Surrogate
                    | Globalization.UnicodeCategory.PrivateUse
                    | Globalization.UnicodeCategory.OtherNotAssigned
                    | Globalization.UnicodeCategory.LineSeparator
                    | Globalization.UnicodeCategory.ParagraphSeparator -> false
                    | Globalization.UnicodeCategory.SpaceSeparator -> rune.Value = 0x20
                    | _ -> true
                if printable then sb.Append(rune.ToString()) |> ignore
                elif rune.Value < 0x10000 then sb.AppendFormat("\\u{0:x4}", rune.Value) |> ignore
                else sb.AppendFormat("\\U{0:x8}", rune.Value) |> ignore
                i <- i + consumed
            else
                sb.AppendFormat("\\x{0:x2}", b) |> ignore
                i <- i + 1
    sb.Append('"').ToString()

/// Go's `%v` of a []uint64: `[1 2 3]`.
let uint64s (xs: uint64 seq) = "[" + String.Join(" ", xs) + "]"

/// etcd's ConfChangesToString: `v1 l2 r3 u4`.
let confChangesToString (ccs: ConfChangeSingle list) =
    ccs
    |> List.map (fun cc ->
        let prefix =
            match cc.Type with
            | ConfChangeAddNode -> "v"
            | ConfChangeAddLearnerNode -> "l"
            | ConfChangeRemoveNode -> "r"
            | ConfChangeUpdateNode -> "u"
        prefix + string cc.NodeID)
    |> String.concat " "

/// etcd's ConfChangesFromString: the inverse of `confChangesToString`.
let confChangesFromString (s: string) : Result<ConfChangeSingle list, string> =
    let toks = s.Trim().Split(' ') |> Array.filter (fun t -> t <> "")
    let parse (tok: string) =
        if tok.Length < 2 then
            Error(sprintf "unknown token %s" tok)
        else
            let typ =
                match tok[0] with
                | 'v' -> Ok ConfChangeAddNode
                | 'l' -> Ok ConfChangeAddLearnerNode
                | 'r' -> Ok ConfChangeRemoveNode
                | 'u' -> Ok ConfChangeUpdateNode
                | _ -> Error(sprintf "unknown input: %s" tok)
            match typ, UInt64.TryParse(tok.AsSpan 1) with
            | Ok t, (true, id) -> Ok { Type = t; NodeID = id }
            | Error e, _ -> Error e
            | _, (false, _) -> Error(sprintf "strconv.ParseUint: parsing %s: invalid syntax" (quote (Text.Encoding.UTF8.GetBytes(tok.Substring 1))))
    Array.foldBack
        (fun tok acc -> match parse tok, acc with
                        | Ok c, Ok rest -> Ok(c :: rest)
                        | Error e, _ -> Error e
                        | _, Error e -> Error e)
        toks
        (Ok [])

/// etcd's DescribeHardState: `Term:1 Vote:1 Commit:3` (Vote omitted when zero).
let hardState (hs: HardState) =
    if hs.Vote <> 0UL then sprintf "Term:%d Vote:%d Commit:%d" hs.Term hs.Vote hs.Commit
    else sprintf "Term:%d Commit:%d" hs.Term hs.Commit

/// etcd's DescribeSoftState: `Lead:1 State:StateLeader`.
let softState (ss: SoftState) = sprintf "Lead:%d State:%s" ss.Lead (Pb.stateTypeName ss.RaftState)

/// etcd's DescribeConfState.
let confState (cs: ConfState) =
    sprintf
        "Voters:%s VotersOutgoing:%s Learners:%s LearnersNext:%s AutoLeave:%b"
        (uint64s cs.Voters)
        (uint64s cs.VotersOutgoing)
        (uint64s cs.Learners)
        (uint64s cs.LearnersNext)
        cs.AutoLeave

/// etcd's DescribeSnapshot.
let snapshot (s: Snapshot) =
    sprintf "Index:%d Term:%d ConfState:%s" s.Metadata.Index s.Metadata.Term (confState s.Metadata.ConfState)

/// etcd's DescribeEntry; `format` renders normal entries' data (default: Go's %q).
let entryWith (format: EntryFormatter) (e: Entry) =
    let formatted =
        match e.Type with
        | EntryNormal -> format e.Data
        | EntryConfChange ->
            match Codec.unmarshalConfChange e.Data with
            | Ok cc -> confChangesToString (Pb.confChangeAsV2 cc).Changes
            | Error err -> err
        | EntryConfChangeV2 ->
            match Codec.unmarshalConfChangeV2 e.Data with
            | Ok cc -> confChangesToString cc.Changes
            | Error err -> err
    let formatted = if formatted = "" then "" else " " + formatted
    sprintf "%d/%d %s%s" e.Term e.Index (Pb.entryTypeName e.Type) formatted

let entry (e: Entry) = entryWith quote e

/// etcd's DescribeEntries: one entry per line, each ending in a newline.
let entriesWith (format: EntryFormatter) (ents: Entry seq) =
    let sb = StringBuilder()
    for e in ents do
        sb.Append(entryWith format e).Append('\n') |> ignore
    sb.ToString()

let entries (ents: Entry seq) = entriesWith quote ents

/// etcd's DescribeMessage: `1->2 MsgApp Term:1 Log:1/3 Commit:4 Entries:[...]` (ids in hex).
let messageWith (format: EntryFormatter) (m: Message) =
    let sb = StringBuilder()
    sb.AppendFormat("{0:x}->{1:x} {2} Term:{3} Log:{4}/{5}", m.From, m.To, Pb.messageTypeName m.Type, m.Term, m.LogTerm, m.Index)
    |> ignore
    if m.Reject then sb.AppendFormat(" Rejected (Hint: {0})", m.RejectHint) |> ignore
    if m.Commit <> 0UL then sb.AppendFormat(" Commit:{0}", m.Commit) |> ignore
    if m.Entries.Length > 0 then
        sb.Append(" Entries:[") |> ignore
        m.Entries |> Array.iteri (fun i e -> (if i > 0 then sb.Append(", ") |> ignore); sb.Append(entryWith format e) |> ignore)
        sb.Append("]") |> ignore
    if not (Pb.isEmptySnap m.Snapshot) then sb.Append(" Snapshot: ").Append(snapshot m.Snapshot) |> ignore
    sb.ToString()

let message (m: Message) = messageWith quote m

/// Go's `%v` of a []ReadState: `[{1 [97 98]}]`.
let readStates (rss: ReadState list) =
    rss
    |> List.map (fun rs -> sprintf "{%d %s}" rs.Index (uint64s (rs.RequestCtx |> Seq.map uint64)))
    |> String.concat " "
    |> sprintf "[%s]"

/// etcd's DescribeReady.
let readyWith (format: EntryFormatter) (rd: Ready) =
    let sb = StringBuilder()
    rd.SoftState |> Option.iter (fun ss -> sb.Append(softState ss).Append('\n') |> ignore)
    if not (Pb.isEmptyHardState rd.HardState) then
        sb.Append("HardState ").Append(hardState rd.HardState).Append('\n') |> ignore
    if not rd.ReadStates.IsEmpty then sb.Append("ReadStates ").Append(readStates rd.ReadStates).Append('\n') |> ignore
    if rd.Entries.Length > 0 then sb.Append("Entries:\n").Append(entriesWith format rd.Entries) |> ignore
    if not (Pb.isEmptySnap rd.Snapshot) then sb.Append("Snapshot ").Append(snapshot rd.Snapshot).Append('\n') |> ignore
    if rd.CommittedEntries.Length > 0 then
        sb.Append("CommittedEntries:\n").Append(entriesWith format rd.CommittedEntries) |> ignore
    if rd.Messages.Length <> 0 then
        sb.Append("Messages:\n") |> ignore
        for m in rd.Messages do
            sb.Append(messageWith format m).Append('\n') |> ignore
    if sb.Length > 0 then sprintf "Ready MustSync=%b:\n%s" rd.MustSync (sb.ToString())
    else "<empty Ready>"

let ready (rd: Ready) = readyWith quote rd
