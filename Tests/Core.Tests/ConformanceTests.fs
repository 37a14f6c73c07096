/// etcd raft 3.5's datadriven scripts and our own, byte for byte.
module Raft.Core.Tests.ConformanceTests

open System.IO
open Xunit
open Raft.Core.Tests.Corpus

/// The harness each folder name selects.
let harnesses: Map<string, Harness> =
    Map
        [ "quorum", QuorumHarness.harness
          "confchange", ConfChangeHarness.harness
          "interaction", InteractionHarness.harness
          "planner", PlannerHarness.harness
          "apply-planner", ApplyPlannerHarness.harness ]

let corpusCases () : obj[] seq =
    if Directory.Exists corpusDir then
        scripts corpusDir |> Seq.map (fun f -> [| box f |])
    else
        // Only reached in CI (the theory is skipped otherwise): a missing corpus must fail.
        Seq.singleton [| box "<missing>" |]

[<CorpusTheory; MemberData(nameof corpusCases)>]
let ``etcd raft corpus`` (script: string) =
    if script = "<missing>" then
        Assert.Fail(sprintf "etcd raft corpus not found at %s (set RAFT_TESTDATA)" corpusDir)
    else
        check harnesses corpusDir script

let ownCases () : obj[] seq = scripts ownDir |> Seq.map (fun f -> [| box f |])

/// Our own scripts under Tests/Core.Tests/testdata, each through the harness its folder names.
[<Theory; MemberData(nameof ownCases)>]
let ``own scripts`` (script: string) = check harnesses ownDir script
