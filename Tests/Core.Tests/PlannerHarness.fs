/// The datadriven harness for planner scripts (testdata/planner/*.txt):
///
///   plan [now=<duration>] [heartbeat=<duration>] [removed=(<id>, ...)]
///   <a Ready as etcd's DescribeReady prints it, or `<empty Ready>`>
///   ----
///   <the plan, as PlanText prints it>
///
/// Within a script the planner state carries over from one `plan` to the next, as in the seed's loop
/// (whether the node leads is part of it, taken from each Ready's soft state), and so do the
/// arguments: `now` (a monotonic clock reading, starting at 0), `heartbeat` (the heartbeat
/// interval, 100ms until set) and `removed` (the removed member ids, none until set).
module Raft.Core.Tests.PlannerHarness

open System
open Raft.Core
open Raft.Core.Tests.DataDriven

type private Session =
    { mutable State: PlannerState
      mutable Now: TimeSpan
      mutable Heartbeat: TimeSpan
      mutable Removed: Set<uint64> }

let private plan (s: Session) (d: TestData) =
    d.Arg "now" |> Option.iter (fun _ -> s.Now <- ReadyText.parseDuration (d.ArgValue "now"))
    d.Arg "heartbeat" |> Option.iter (fun _ -> s.Heartbeat <- ReadyText.parseDuration (d.ArgValue "heartbeat"))
    d.Arg "removed" |> Option.iter (fun ids -> s.Removed <- ids |> List.filter ((<>) "") |> List.map uint64 |> Set.ofList)
    let rd = ReadyText.parse d.Input
    let removed = s.Removed
    let input =
        { Ready = rd
          IsRemoved = fun id -> removed.Contains id
          Now = s.Now
          HeartbeatInterval = s.Heartbeat }
    let p = Planner.plan input s.State
    s.State <- p.State
    PlanText.describe p.Effects

/// A fresh session per script.
let harness () : TestData -> string =
    let s =
        { State = Planner.initial
          Now = TimeSpan.Zero
          Heartbeat = TimeSpan.FromMilliseconds 100.0
          Removed = Set.empty }
    fun d ->
        match d.Cmd with
        | "plan" -> plan s d
        | other -> failwithf "%s: unknown command %s" d.Pos other
