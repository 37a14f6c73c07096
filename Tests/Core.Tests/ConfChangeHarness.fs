/// The harness for etcd's confchange scripts (raft/confchange/testdata): `simple`, `enter-joint`
/// (with `autoleave=`) and `leave-joint`, each taking changes such as `v1 l2 r3 u4` as input and
/// printing the resulting config and progress map, or etcd's error. Every directive, successful or
/// not, advances the last index by one.
module Raft.Core.Tests.ConfChangeHarness

open Raft.Core
open Raft.Core.Tests.DataDriven

/// Go's strconv.ParseBool.
let private parseBool (d: TestData) (s: string) =
    match s with
    | "1" | "t" | "T" | "true" | "TRUE" | "True" -> true
    | "0" | "f" | "F" | "false" | "FALSE" | "False" -> false
    | _ -> failwithf "%s: cannot parse bool %s" d.Pos s

let harness () : TestData -> string =
    let mutable chg = { Tracker = ProgressTracker.make 10; LastIndex = 0UL }
    fun d ->
        let run () =
            match Describe.confChangesFromString d.Input with
            | Error e -> e
            | Ok ccs ->
                let result =
                    match d.Cmd with
                    | "simple" -> Some(Changer.simple ccs chg)
                    | "enter-joint" ->
                        let autoLeave = if d.CmdArgs.IsEmpty then false else parseBool d (d.ArgValue "autoleave")
                        Some(Changer.enterJoint autoLeave ccs chg)
                    | "leave-joint" ->
                        if ccs.IsEmpty then Some(Changer.leaveJoint chg) else Some(Error "this command takes no input")
                    | _ -> None
                match result with
                | None -> "unknown command"
                | Some(Error e) -> e + "\n"
                | Some(Ok(cfg, prs)) ->
                    chg <- { chg with Tracker = ProgressTracker.withConfig cfg prs chg.Tracker }
                    TrackerConfig.toString cfg + "\n" + ProgressMap.toString prs
        let out = run ()
        chg <- { chg with LastIndex = chg.LastIndex + 1UL }
        out
