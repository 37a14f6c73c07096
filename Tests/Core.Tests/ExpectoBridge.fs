/// Runs every Expecto test of this assembly inside the xunit run that `dotnet test` drives: no
/// Expecto adapter for `dotnet test` is served to us, and the README's one test command (and CI's
/// count, read from the TRX files) must include every test. Each Expecto test case is one row of the
/// theory below, named by its Expecto path, so it passes, fails and is counted on its own.
/// Run the same tests with Expecto's own runner: `dotnet run --project Tests/Core.Tests -c Release`.
module Raft.Core.Tests.ExpectoBridge

open System
open System.Reflection
open System.Threading
open Expecto
open Xunit

/// Every Expecto test of this assembly (the `[<Tests>]` values), flattened, by its full name.
let private flatTests: Lazy<FlatTest list> =
    lazy
        (match Impl.testFromAssembly (Assembly.GetExecutingAssembly()) with
         | Some tests -> Test.toTestCodeList tests
         | None -> [])

let private fullName (t: FlatTest) = String.Join("/", t.name)

let private byName: Lazy<Map<string, FlatTest>> =
    lazy (flatTests.Value |> List.map (fun t -> fullName t, t) |> Map.ofList)

/// Runs one test's code to completion; a failed expectation throws, which fails the xunit row.
let run (code: TestCode) =
    match code with
    | Sync f -> f ()
    | SyncWithCancel f -> f CancellationToken.None
    | Async a -> Async.RunSynchronously a
    | AsyncFsCheck(config, _, f) -> Async.RunSynchronously(f (defaultArg config FsCheckConfig.defaultConfig))

let cases () : obj[] seq =
    flatTests.Value
    |> Seq.filter (fun t -> t.state <> FocusState.Pending)
    |> Seq.map (fun t -> [| box (fullName t) |])

[<Theory; MemberData(nameof cases)>]
let expecto (name: string) = run byName.Value[name].test

/// The bridge itself: two tests with one name would run one body twice and hide the other; a
/// pending (skipped) test would silently not run.
[<Fact>]
let ``every Expecto test has its own name and none is pending`` () =
    let names = flatTests.Value |> List.map fullName
    let duplicates = names |> List.countBy id |> List.filter (fun (_, n) -> n > 1) |> List.map fst
    Assert.True(duplicates.IsEmpty, sprintf "Expecto tests with the same name: %A" duplicates)
    let pending = flatTests.Value |> List.filter (fun t -> t.state = FocusState.Pending) |> List.map fullName
    Assert.True(pending.IsEmpty, sprintf "pending Expecto tests are not run: %A" pending)
    Assert.NotEmpty names

/// `dotnet run` runs the same tests with Expecto's runner (its summary, filters and stress modes).
[<EntryPoint>]
let main argv = Tests.runTestsInAssemblyWithCLIArgs [] argv
