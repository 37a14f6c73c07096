/// The harness for etcd's quorum scripts (raft/quorum/testdata): `committed` and `vote` over a
/// majority config `cfg` and, with `cfgj`, a joint config, with acknowledged indexes `idx` or
/// votes `votes` given per voter in config order (`_` for unknown). Like etcd's harness it also
/// cross-checks each result against equivalent computations and prints any disagreement.
module Raft.Core.Tests.QuorumHarness

open System
open System.Text
open Raft.Core
open Raft.Core.Tests.DataDriven

/// A deliberately simple committed index: the largest acknowledged index that at least a majority
/// of voters have reached (etcd's alternativeMajorityCommittedIndex).
let alternativeMajorityCommittedIndex (c: MajorityConfig) (l: AckedIndexer) : uint64 =
    if MajorityConfig.isEmpty c then
        Quorum.infinity
    else
        let acked = MajorityConfig.toList c |> List.choose (fun id -> match l id with ValueSome i -> Some i | ValueNone -> None)
        let q = MajorityConfig.count c / 2 + 1
        acked
        |> List.filter (fun idx -> (acked |> List.filter (fun other -> other >= idx) |> List.length) >= q)
        |> List.fold max 0UL

let private parseU64 (d: TestData) (key: string) (s: string) =
    match UInt64.TryParse s with
    | true, n -> n
    | _ -> failwithf "%s: cannot parse %s=%s" d.Pos key s

let private goMapOfIds (ids: uint64 list) =
    ids |> List.map (sprintf "%d:{}") |> String.concat " " |> sprintf "map[%s]"

/// Handles one directive.
let handle (d: TestData) : string =
    let mutable joint = false
    let ids = ResizeArray<uint64>()
    let idsj = ResizeArray<uint64>()
    let idxs = ResizeArray<uint64>()
    let votes = ResizeArray<uint64>()
    for arg in d.CmdArgs do
        for v in arg.Vals do
            match arg.Key with
            | "cfg" -> ids.Add(parseU64 d arg.Key v)
            | "cfgj" ->
                joint <- true
                if v = "zero" then
                    if arg.Vals.Length <> 1 then failwithf "%s: cannot mix 'zero' into configuration" d.Pos
                else
                    idsj.Add(parseU64 d arg.Key v)
            | "idx" ->
                // `_` registers a placeholder, stored as zero; zero itself is not allowed.
                if v = "_" then idxs.Add 0UL
                else
                    let n = parseU64 d arg.Key v
                    if n = 0UL then failwithf "%s: cannot use 0 as idx" d.Pos
                    idxs.Add n
            | "votes" ->
                match v with
                | "y" -> votes.Add 2UL
                | "n" -> votes.Add 1UL
                | "_" -> votes.Add 0UL
                | _ -> failwithf "%s: unknown vote: %s" d.Pos v
            | key -> failwithf "%s: unknown arg %s" d.Pos key
    let c = MajorityConfig.ofSeq ids
    let cj = MajorityConfig.ofSeq idsj
    let jc = { Incoming = c; Outgoing = cj }

    // Assigns the inputs to the voters in the order they appear in (ids, idsj), without repeating
    // a voter present in both; placeholders (zero) are then dropped, as "unknown" differs from 0.
    let lookuper (input: ResizeArray<uint64>) =
        let order = Seq.append ids idsj |> Seq.distinct |> Seq.toList
        let pairs = List.zip (List.truncate input.Count order) (List.truncate order.Length (List.ofSeq input))
        pairs |> List.filter (fun (_, v) -> v <> 0UL) |> Map.ofList

    let input = if d.Cmd = "vote" then votes else idxs
    let voters = JointConfig.ids jc
    if MajorityConfig.count voters <> input.Count then
        sprintf
            "error: mismatched input (explicit or _) for voters %s: %s"
            (goMapOfIds (MajorityConfig.toList voters))
            (Describe.uint64s input)
    else
        let buf = StringBuilder()
        let idxStr = Quorum.indexString
        match d.Cmd with
        | "committed" ->
            let m = lookuper idxs
            let l = Quorum.ackedIndexerOfMap m
            if not joint then
                let idx = MajorityConfig.committedIndex l c
                buf.Append(MajorityConfig.describe l c) |> ignore
                let a = alternativeMajorityCommittedIndex c l
                if a <> idx then buf.AppendFormat("{0} <-- via alternative computation\n", idxStr a) |> ignore
                let a = JointConfig.committedIndex l (JointConfig.ofIncoming c)
                if a <> idx then buf.AppendFormat("{0} <-- via zero-joint quorum\n", idxStr a) |> ignore
                let a = JointConfig.committedIndex l { Incoming = c; Outgoing = c }
                if a <> idx then buf.AppendFormat("{0} <-- via self-joint quorum\n", idxStr a) |> ignore
                // Lowering an index that is already below the committed one must not change it.
                let overlay id idx' =
                    MajorityConfig.toList c
                    |> List.choose (fun i -> if i = id then Some(i, idx') else m.TryFind i |> Option.map (fun x -> i, x))
                    |> Map.ofList
                    |> Quorum.ackedIndexerOfMap
                for id in MajorityConfig.toList c do
                    let iidx = m.TryFind id |> Option.defaultValue 0UL
                    if idx > iidx && iidx > 0UL then
                        let a = MajorityConfig.committedIndex (overlay id (iidx - 1UL)) c
                        if a <> idx then buf.AppendFormat("{0} <-- overlaying {1}->{2}", idxStr a, id, iidx) |> ignore
                        let a = MajorityConfig.committedIndex (overlay id 0UL) c
                        if a <> idx then buf.AppendFormat("{0} <-- overlaying {1}->0", idxStr a, id) |> ignore
                buf.Append(idxStr idx).Append('\n') |> ignore
            else
                buf.Append(JointConfig.describe l jc) |> ignore
                let idx = JointConfig.committedIndex l jc
                let a = JointConfig.committedIndex l { Incoming = cj; Outgoing = c }
                if a <> idx then buf.AppendFormat("{0} <-- via symmetry\n", idxStr a) |> ignore
                buf.Append(idxStr idx).Append('\n') |> ignore
        | "vote" ->
            // 1 is a "no", 2 a "yes".
            let l = lookuper votes |> Map.map (fun _ v -> v <> 1UL)
            if not joint then
                buf.Append(Quorum.voteResultName (MajorityConfig.voteResult l c)).Append('\n') |> ignore
            else
                let r = JointConfig.voteResult l jc
                let a = JointConfig.voteResult l { Incoming = cj; Outgoing = c }
                if a <> r then buf.AppendFormat("{0} <-- via symmetry\n", Quorum.voteResultName a) |> ignore
                buf.Append(Quorum.voteResultName r).Append('\n') |> ignore
        | cmd -> failwithf "%s: unknown command: %s" d.Pos cmd
        buf.ToString()

/// A fresh handler per script (the quorum harness keeps no state between directives).
let harness () : TestData -> string = handle
