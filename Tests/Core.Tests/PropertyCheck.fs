/// How the property tests run: each property is checked over 1000 generated inputs, and each
/// deliberately broken variant is shown caught by the same property within 1000 tries.
module Raft.Core.Tests.PropertyCheck

/// Hedgehog properties, the project's property library going forward (integrated shrinking gives
/// smaller counterexamples than FsCheck's type-directed shrinkers). Every check in a run uses one
/// seed: RAFT_PROP_SEED if set, else a fresh one; a failure names it, so the run replays with it.
module Hog =
    open System
    open Hedgehog
    open Hedgehog.FSharp

    /// This run's seed for every Hedgehog check.
    let seed: uint64 =
        match Environment.GetEnvironmentVariable "RAFT_PROP_SEED" with
        | null
        | "" -> uint64 (Random.Shared.NextInt64())
        | s -> UInt64.Parse s

    let private config (tests: int<tests>) =
        PropertyConfig.defaults
        |> PropertyConfig.withTests tests
        |> PropertyConfig.withSeed (Seed.from seed)

    let private outcome (report: Report) =
        match report.Status with
        | Failed _ -> Error(sprintf "property failed; RAFT_PROP_SEED=%d replays it\n%s" seed (Report.render report))
        | GaveUp -> Error(sprintf "property gave up (too many discarded inputs); RAFT_PROP_SEED=%d\n%s" seed (Report.render report))
        | OK -> Ok()

    /// Integers from lo to hi, uniform (FsCheck's Gen.choose); shrinks towards lo.
    let intIn (lo: int) (hi: int) : Gen<int> = Gen.int32 (Range.constant lo hi)

    /// Lists of up to 100 items, longer as a run's size grows, as FsCheck's Gen.listOf.
    let listOf (g: Gen<'a>) : Gen<'a list> = Gen.list (Range.linear 0 100) g

    /// Checks the property over `tests` generated inputs; throws with the shrunk counterexample.
    let holdsWith tests (p: Hedgehog.Property<unit>) =
        match outcome (Hedgehog.FSharp.Property.reportWith (config tests) p) with
        | Ok() -> ()
        | Error message -> failwith message

    /// Checks the property over 1000 generated inputs.
    let holds p = holdsWith 1000<tests> p

    /// The same for a property that returns a bool.
    let holdsBool (p: Hedgehog.Property<bool>) =
        match outcome (Hedgehog.FSharp.Property.reportBoolWith (config 1000<tests>) p) with
        | Ok() -> ()
        | Error message -> failwith message

    /// Whether the property fails within 1000 inputs: how a broken variant is shown caught.
    let caught (p: Hedgehog.Property<unit>) =
        match (Hedgehog.FSharp.Property.reportWith (config 1000<tests>) p).Status with
        | Failed _ -> true
        | _ -> false

    /// The same for a property that returns a bool.
    let caughtBool (p: Hedgehog.Property<bool>) =
        match (Hedgehog.FSharp.Property.reportBoolWith (config 1000<tests>) p).Status with
        | Failed _ -> true
        | _ -> false
