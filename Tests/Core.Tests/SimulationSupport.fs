/// What the core simulation (Simulation.fs) and the whole-node simulation (NodeSimulation.fs)
/// share: their random source and the form of a broken property.
module Raft.Core.Tests.SimulationSupport

open System

/// A property broken at a step of a run.
type Violation = { Step: int; Property: string; Detail: string }

/// splitmix64: a small, fast generator whose whole state is one number, so a run replays from its seed.
type internal Rng(seed: uint64) =
    let mutable state = seed

    member _.Next() =
        state <- state + 0x9E3779B97F4A7C15UL
        let mutable z = state
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    member r.Below(n: int) = int (r.Next() % uint64 n)

/// One draw among kinds of event by weight: asked in order, `Take w` is true for the kind whose
/// share of `total` the draw falls into.
type internal WeightedDraw(rng: Rng, total: int) =
    let mutable x = rng.Below total

    member _.Take(w: int) =
        if x < w then
            true
        else
            x <- x - w
            false

/// An integer setting from the environment (seed counts and ranges), else `fallback`.
let envInt (name: string) (fallback: int) =
    match Environment.GetEnvironmentVariable name with
    | null
    | "" -> fallback
    | s -> int s
