/// etcd's own datadriven scripts (the conformance corpus) and ours, each file one test case.
module Raft.Core.Tests.Corpus

open System
open System.IO
open Expecto
open Raft.Core.Tests.DataDriven

/// The repository root: the first folder above the test binaries that holds Raft.sln.
let repoRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "Raft.sln not found above the test binaries"
        elif File.Exists(Path.Combine(dir.FullName, "Raft.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

let isCi = String.Equals(Environment.GetEnvironmentVariable "CI", "true", StringComparison.OrdinalIgnoreCase)

/// Where etcd's scripts are read from: $RAFT_TESTDATA, else ../shared/raft-testdata.
let corpusDir =
    match Environment.GetEnvironmentVariable "RAFT_TESTDATA" with
    | null
    | "" -> Path.GetFullPath(Path.Combine(repoRoot, "..", "shared", "raft-testdata"))
    | p -> Path.GetFullPath p

/// Our own scripts, committed beside the tests.
let ownDir = Path.Combine(repoRoot, "Tests", "Core.Tests", "testdata")

/// A harness makes a fresh handler for one script.
type Harness = unit -> (TestData -> string)

/// Every `*.txt` below `dir`, as paths relative to it with '/' separators, sorted.
let scripts (dir: string) =
    if Directory.Exists dir then
        Directory.GetFiles(dir, "*.txt", SearchOption.AllDirectories)
        |> Array.map (fun p -> Path.GetRelativePath(dir, p).Replace('\\', '/'))
        |> Array.sort
    else
        [||]

/// Picks the harness by the nearest folder name that names one.
let pick (harnesses: Map<string, Harness>) (relative: string) =
    let folders = relative.Split('/') |> Array.rev |> Array.skip 1
    folders |> Array.tryPick (fun f -> Map.tryFind f harnesses)

/// Why the corpus tests are missing: printed on the console and, in CI, the failure.
let corpusMissing = sprintf "etcd raft corpus not found at %s (set RAFT_TESTDATA)" corpusDir

/// Runs one script and fails the test with a readable diff on the first mismatch.
let check (harnesses: Map<string, Harness>) (root: string) (relative: string) =
    match pick harnesses relative with
    | None -> failwithf "no harness for %s (known: %s)" relative (String.Join(", ", harnesses.Keys))
    | Some harness ->
        match runFile (Path.Combine(root, relative)) relative (harness ()) with
        | None -> ()
        | Some report -> failtest report
