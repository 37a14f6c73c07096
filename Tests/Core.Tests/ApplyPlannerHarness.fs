/// The datadriven harness for the apply side's scripts (testdata/apply-planner/*.txt):
///
///   apply [applied=<term>/<index>] [snapshot=<index>]
///   <a Ready as etcd's DescribeReady prints it; only its snapshot and committed entries count>
///   ----
///   <the apply loop's steps, then the progress after them>
///
///   snapshot count=<n> catchup=<n> applied=<index> snapshot=<index> now=<duration> \
///            [sending=<n>] [in-flight] [started=<duration> saved=<duration>]
///   ----
///   <the decision; when it is to take one, the raft loop's steps for it>
///
///   purge max-wals=<n> max-snaps=<n>
///   wal: <one WAL file name a line>  snap: <one snap-directory file name a line>
///   ----
///   <the files to remove, oldest first>
///
///   release index=<index>
///   <one snap-directory file name a line>
///   ----
///   <the state-machine snapshot files to remove>
///
/// The progress carries over from one `apply` to the next (0/0, snapshot 0 at first); `applied`
/// and `snapshot` set it.
module Raft.Core.Tests.ApplyPlannerHarness

open System
open Raft.Core
open Raft.Core.Tests.DataDriven

let private termIndex (s: string) =
    match s.Split '/' with
    | [| t; i |] -> uint64 t, uint64 i
    | _ -> failwithf "want <term>/<index>, got %s" s

let private apply (progress: ApplyProgress ref) (d: TestData) =
    d.Arg "applied"
    |> Option.iter (fun _ ->
        let t, i = termIndex (d.ArgValue "applied")
        progress.Value <- { progress.Value with AppliedTerm = t; AppliedIndex = i })
    d.Arg "snapshot" |> Option.iter (fun _ -> progress.Value <- { progress.Value with SnapshotIndex = uint64 (d.ArgValue "snapshot") })
    let rd = ReadyText.parse d.Input
    match ApplyPlanner.plan progress.Value rd.CommittedEntries rd.Snapshot with
    | Ok plan ->
        progress.Value <- plan.Progress
        ApplyPlanText.describe plan
    | Error e -> sprintf "error: %s\n" e

let private snapshot (d: TestData) =
    let u64 key = uint64 (d.ArgValue key)
    let settings = { SnapshotCount = u64 "count"; CatchUpEntries = u64 "catchup"; PauseFactor = 9 }
    let progress = { AppliedIndex = u64 "applied"; AppliedTerm = 1UL; SnapshotIndex = u64 "snapshot" }
    let last =
        if d.HasArg "in-flight" then InFlight
        elif d.HasArg "started" then Saved(ReadyText.parseDuration (d.ArgValue "started"), ReadyText.parseDuration (d.ArgValue "saved"))
        else NoSnapshot
    let sending = if d.HasArg "sending" then int (d.ArgValue "sending") else 0
    let decision = SnapshotPlanner.decide settings progress last sending (ReadyText.parseDuration (d.ArgValue "now"))
    let steps =
        match decision with
        | Take order -> SnapshotPlanner.plan order |> List.map ApplyPlanText.snapshotStep
        | NotDue
        | HeldBack -> []
    String.Join("\n", ApplyPlanText.decision decision :: steps) + "\n"

let private lines (text: string) =
    text.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries) |> List.ofArray

let private purge (d: TestData) =
    // Names under `wal:` and under `snap:`.
    let sections =
        lines d.Input
        |> List.fold
            (fun (section, acc: Map<string, string list>) line ->
                if line.EndsWith ":" then line.TrimEnd ':', acc
                else section, acc.Add(section, (acc.TryFind section |> Option.defaultValue []) @ [ line ]))
            ("", Map.empty)
        |> snd
    let names key = sections.TryFind key |> Option.defaultValue []
    ApplyPlanText.purge (Purge.plan (int (d.ArgValue "max-wals")) (int (d.ArgValue "max-snaps")) (names "wal") (names "snap"))

let private release (d: TestData) =
    match Purge.snapDbsOlderThan (uint64 (d.ArgValue "index")) (lines d.Input) with
    | [] -> "nothing\n"
    | names -> names |> List.map (sprintf "remove-snap-db(%s)\n") |> String.concat ""

/// A fresh session per script.
let harness () : TestData -> string =
    let progress = ref (ApplyPlanner.start Pb.emptySnapshot)
    fun d ->
        match d.Cmd with
        | "apply" -> apply progress d
        | "snapshot" -> snapshot d
        | "purge" -> purge d
        | "release" -> release d
        | other -> failwithf "%s: unknown command %s" d.Pos other
