/// etcd raft 3.5's datadriven scripts and our own, byte for byte: one Expecto test per script
/// file, from the folder listing.
module Raft.Core.Tests.ConformanceTests

open System.IO
open Expecto
open Raft.Core.Tests.Corpus

/// The harness each folder name selects.
let harnesses: Map<string, Harness> =
    Map
        [ "quorum", QuorumHarness.harness
          "confchange", ConfChangeHarness.harness
          "interaction", InteractionHarness.harness
          "planner", PlannerHarness.harness
          "apply-planner", ApplyPlannerHarness.harness ]

let private scriptTests (root: string) =
    [ for script in scripts root -> testCase script <| fun () -> check harnesses root script ]

/// etcd's scripts. A missing corpus cannot be a skipped test here: the xunit bridge refuses
/// pending Expecto tests, and a passing placeholder would count a skip as passed. So:
/// - in CI (CI=true) a missing corpus is one failing test that says where it looked;
/// - elsewhere no corpus test is generated (the run's count shows it) and the reason and the path
///   are printed: on stderr here, which Expecto's runner (`dotnet run`) shows, and by the test
///   project's ReportMissingCorpus target for `dotnet test`, which does not show the test host's
///   console output.
let private corpusTests =
    if Directory.Exists corpusDir then
        scriptTests corpusDir
    elif isCi then
        [ testCase "corpus present" <| fun () -> failtest corpusMissing ]
    else
        eprintfn "%s; its scripts are not run (no corpus test is generated)" corpusMissing
        []

[<Tests>]
let tests =
    testList "Conformance" [
        testList "etcd raft corpus" corpusTests
        // Our own scripts under Tests/Core.Tests/testdata, each through the harness its folder names.
        testList "own scripts" (scriptTests ownDir)
    ]
