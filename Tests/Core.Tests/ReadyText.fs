/// Reads etcd's DescribeReady text (what the interaction scripts print under `process-ready`) back
/// into a Ready, so that planner scripts can state their input in the form a reader already knows.
module Raft.Core.Tests.ReadyText

open System
open System.Globalization
open System.Text
open Raft.Core

/// Go's strconv.Unquote of a double-quoted string, as bytes (the inverse of Describe.quote).
let unquote (s: string) : Result<byte[], string> =
    if s.Length < 2 || s[0] <> '"' || s[s.Length - 1] <> '"' then
        Error(sprintf "not a quoted string: %s" s)
    else
        let out = ResizeArray<byte>()
        let body = s.Substring(1, s.Length - 2)
        let mutable i = 0
        let mutable err = None
        let hex (len: int) =
            if i + len > body.Length then
                err <- Some(sprintf "short escape in %s" s)
                0
            else
                let v = Int32.Parse(body.AsSpan(i, len), NumberStyles.HexNumber)
                i <- i + len
                v
        while i < body.Length && err.IsNone do
            let c = body[i]
            i <- i + 1
            if c <> '\\' then
                // Take a whole code point (a surrogate pair is one character of the input).
                let text =
                    if Char.IsHighSurrogate c && i < body.Length then
                        i <- i + 1
                        String([| c; body[i - 1] |])
                    else
                        string c
                out.AddRange(Encoding.UTF8.GetBytes text)
            elif i >= body.Length then
                err <- Some(sprintf "trailing backslash in %s" s)
            else
                let e = body[i]
                i <- i + 1
                match e with
                | 'a' -> out.Add 7uy
                | 'b' -> out.Add 8uy
                | 'f' -> out.Add 12uy
                | 'n' -> out.Add 10uy
                | 'r' -> out.Add 13uy
                | 't' -> out.Add 9uy
                | 'v' -> out.Add 11uy
                | '\\' -> out.Add(byte '\\')
                | '"' -> out.Add(byte '"')
                | 'x' -> out.Add(byte (hex 2))
                | 'u' -> out.AddRange(Encoding.UTF8.GetBytes(Char.ConvertFromUtf32(hex 4)))
                | 'U' -> out.AddRange(Encoding.UTF8.GetBytes(Char.ConvertFromUtf32(hex 8)))
                | other -> err <- Some(sprintf "unknown escape \\%c in %s" other s)
        match err with
        | Some e -> Error e
        | None -> Ok(out.ToArray())

/// A cursor over one line of text; parse failures are exceptions naming the line (test input only).
type private Cursor(text: string) =
    let mutable pos = 0
    member _.AtEnd = pos >= text.Length
    member _.Peek(s: string) = String.CompareOrdinal(text, pos, s, 0, s.Length) = 0
    member c.Fail(what: string) : 'a = failwithf "cannot read %s at column %d of: %s" what (pos + 1) text
    member c.Expect(s: string) = if c.Peek s then pos <- pos + s.Length else c.Fail(sprintf "%A" s)
    member c.TryTake(s: string) = if c.Peek s then pos <- pos + s.Length; true else false
    /// Characters up to (not including) any of `stops`, or the end.
    member _.Until(stops: char[]) =
        let i = text.IndexOfAny(stops, pos)
        let stop = if i < 0 then text.Length else i
        let s = text.Substring(pos, stop - pos)
        pos <- stop
        s
    member c.UInt64() =
        let s = c.Until [| ' '; '/'; ']'; ','; ')'; '-'; '}' |]
        match UInt64.TryParse s with
        | true, v -> v
        | _ -> c.Fail "a number"
    member c.Hex() =
        let s = c.Until [| ' '; '-' |]
        match UInt64.TryParse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture) with
        | true, v -> v
        | _ -> c.Fail "a hex id"
    member c.Bool() =
        if c.TryTake "true" then true
        elif c.TryTake "false" then false
        else c.Fail "true or false"
    /// A Go-quoted string, escapes included.
    member c.Quoted() =
        if not (c.Peek "\"") then c.Fail "a quoted string"
        let start = pos
        pos <- pos + 1
        while pos < text.Length && text[pos] <> '"' do
            pos <- pos + (if text[pos] = '\\' then 2 else 1)
        if pos >= text.Length then c.Fail "the closing quote"
        pos <- pos + 1
        match unquote (text.Substring(start, pos - start)) with
        | Ok b -> b
        | Error e -> c.Fail e
    /// Go's %v of a []uint64: `[1 2 3]`.
    member c.UInt64s() =
        c.Expect "["
        let inner = c.Until [| ']' |]
        c.Expect "]"
        inner.Split(' ', StringSplitOptions.RemoveEmptyEntries) |> Array.map UInt64.Parse |> List.ofArray

let private confChange (c: Cursor) (t: EntryType) (text: string) : byte[] =
    match Describe.confChangesFromString text with
    | Error e -> c.Fail e
    | Ok changes ->
        match t, changes with
        | EntryConfChange, [ one ] -> Codec.marshalConfChange { ID = 0UL; Type = one.Type; NodeID = one.NodeID; Context = [||] }
        | EntryConfChange, _ -> c.Fail "exactly one change in a v1 conf change"
        | _ -> Codec.marshalConfChangeV2 { Transition = ConfChangeTransitionAuto; Changes = changes; Context = [||] }

/// `1/4 EntryNormal "data"`, `1/5 EntryConfChange v2`, `1/6 EntryConfChangeV2 v2 r3`. Inside a
/// message's entry list a conf change ends at `,` or `]`.
let private entry (c: Cursor) (inList: bool) : Entry =
    let term = c.UInt64()
    c.Expect "/"
    let index = c.UInt64()
    c.Expect " "
    let typeName = c.Until [| ' '; ','; ']' |]
    let t =
        match typeName with
        | "EntryNormal" -> EntryNormal
        | "EntryConfChange" -> EntryConfChange
        | "EntryConfChangeV2" -> EntryConfChangeV2
        | _ -> c.Fail "an entry type"
    let data =
        match t with
        | EntryNormal ->
            c.Expect " "
            c.Quoted()
        | _ ->
            let rest = if c.TryTake " " then c.Until(if inList then [| ','; ']' |] else [||]) else ""
            confChange c t rest
    { Term = term; Index = index; Type = t; Data = data }

/// etcd's DescribeSnapshot form.
let private snapshot (c: Cursor) : Snapshot =
    c.Expect "Index:"
    let index = c.UInt64()
    c.Expect " Term:"
    let term = c.UInt64()
    c.Expect " ConfState:Voters:"
    let voters = c.UInt64s()
    c.Expect " VotersOutgoing:"
    let outgoing = c.UInt64s()
    c.Expect " Learners:"
    let learners = c.UInt64s()
    c.Expect " LearnersNext:"
    let next = c.UInt64s()
    c.Expect " AutoLeave:"
    let autoLeave = c.Bool()
    { Data = [||]
      Metadata =
        { Index = index
          Term = term
          ConfState = { Voters = voters; VotersOutgoing = outgoing; Learners = learners; LearnersNext = next; AutoLeave = autoLeave } } }

/// etcd's DescribeMessage form.
let private message (c: Cursor) : Message =
    let from = c.Hex()
    c.Expect "->"
    let target = c.Hex()
    c.Expect " "
    let t =
        match Pb.messageTypeOfName (c.Until [| ' ' |]) with
        | Some t -> t
        | None -> c.Fail "a message type"
    c.Expect " Term:"
    let term = c.UInt64()
    c.Expect " Log:"
    let logTerm = c.UInt64()
    c.Expect "/"
    let index = c.UInt64()
    let mutable m = { Pb.emptyMessage with Type = t; From = from; To = target; Term = term; LogTerm = logTerm; Index = index }
    if c.TryTake " Rejected (Hint: " then
        let hint = c.UInt64()
        c.Expect ")"
        m <- { m with Reject = true; RejectHint = hint }
    if c.TryTake " Commit:" then m <- { m with Commit = c.UInt64() }
    if c.TryTake " Entries:[" then
        let ents = ResizeArray<Entry>()
        ents.Add(entry c true)
        while c.TryTake ", " do
            ents.Add(entry c true)
        c.Expect "]"
        m <- { m with Entries = ents.ToArray() }
    if c.TryTake " Snapshot: " then m <- { m with Snapshot = snapshot c }
    if not c.AtEnd then c.Fail "the end of the message"
    m

/// `[{1 [97 98]} {2 []}]`: Go's %v of a []ReadState.
let private readStates (c: Cursor) : ReadState list =
    c.Expect "["
    let rss = ResizeArray<ReadState>()
    while c.TryTake "{" do
        let index = c.UInt64()
        c.Expect " "
        let ctx = c.UInt64s() |> List.map byte |> Array.ofList
        c.Expect "}"
        rss.Add { Index = index; RequestCtx = ctx }
        c.TryTake " " |> ignore
    c.Expect "]"
    List.ofSeq rss

type private Section =
    | NoSection
    | EntriesSection
    | CommittedSection
    | MessagesSection

/// Parses DescribeReady's text (`<empty Ready>` included).
let parse (text: string) : Ready =
    let lines = text.Replace("\r\n", "\n").Split('\n') |> Array.map (fun l -> l.Trim()) |> Array.filter ((<>) "")
    let mutable rd = Pb.emptyReady
    let mutable section = NoSection
    let entries = ResizeArray<Entry>()
    let committed = ResizeArray<Entry>()
    let messages = ResizeArray<Message>()
    for line in lines do
        let c = Cursor line
        if line = "<empty Ready>" then ()
        elif c.TryTake "Ready MustSync=" then
            rd <- { rd with MustSync = c.Bool() }
            c.Expect ":"
        elif c.TryTake "Lead:" then
            let lead = c.UInt64()
            c.Expect " State:"
            let state =
                match c.Until [||] with
                | "StateFollower" -> StateFollower
                | "StateCandidate" -> StateCandidate
                | "StateLeader" -> StateLeader
                | "StatePreCandidate" -> StatePreCandidate
                | _ -> c.Fail "a state"
            rd <- { rd with SoftState = Some { Lead = lead; RaftState = state } }
        elif c.TryTake "HardState Term:" then
            let term = c.UInt64()
            let vote = if c.TryTake " Vote:" then c.UInt64() else 0UL
            c.Expect " Commit:"
            rd <- { rd with HardState = { Term = term; Vote = vote; Commit = c.UInt64() } }
        elif c.TryTake "ReadStates " then rd <- { rd with ReadStates = readStates c }
        elif line = "Entries:" then section <- EntriesSection
        elif line = "CommittedEntries:" then section <- CommittedSection
        elif line = "Messages:" then section <- MessagesSection
        elif c.TryTake "Snapshot " then
            rd <- { rd with Snapshot = snapshot c }
            section <- NoSection
        else
            match section with
            | EntriesSection -> entries.Add(entry c false)
            | CommittedSection -> committed.Add(entry c false)
            | MessagesSection -> messages.Add(message c)
            | NoSection -> c.Fail "a line of a Ready"
    { rd with
        Entries = entries.ToArray()
        CommittedEntries = committed.ToArray()
        Messages = Array.ofSeq messages }

/// Go's time.ParseDuration for the units scripts use (`100ms`, `1.5s`, `2m3s`, `0`).
let parseDuration (s: string) : TimeSpan =
    if s = "0" then
        TimeSpan.Zero
    else
        let units =
            [ "ns", 1e-9; "us", 1e-6; "µs", 1e-6; "ms", 1e-3; "s", 1.0; "m", 60.0; "h", 3600.0 ]
        let mutable rest = s
        let mutable seconds = 0m
        while rest <> "" do
            let numberEnd = rest |> Seq.tryFindIndex (fun ch -> not (Char.IsDigit ch || ch = '.')) |> Option.defaultValue rest.Length
            let number = Decimal.Parse(rest.Substring(0, numberEnd), CultureInfo.InvariantCulture)
            rest <- rest.Substring numberEnd
            // Longest unit first, so that `ms` is not read as `m`.
            match units |> List.sortByDescending (fun (u, _) -> u.Length) |> List.tryFind (fun (u, _) -> rest.StartsWith u) with
            | Some(u, factor) ->
                seconds <- seconds + number * decimal factor
                rest <- rest.Substring u.Length
            | None -> failwithf "bad duration %s" s
        TimeSpan.FromTicks(int64 (Math.Round(seconds * 10_000_000m)))
