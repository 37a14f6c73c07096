module Raft.Core.Bench.Program

open BenchmarkDotNet.Running

/// Anchors the assembly for the benchmark switcher.
type Marker = class end

[<EntryPoint>]
let main args =
    BenchmarkSwitcher.FromAssembly(typeof<Marker>.Assembly).Run(args) |> ignore
    0
