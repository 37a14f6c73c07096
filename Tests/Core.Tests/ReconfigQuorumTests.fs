/// Core's quorum checks for membership administration (ReconfigQuorum) against etcd's arithmetic
/// (server/etcdserver/api/membership/cluster.go and server.go's mayRemoveMember), and the
/// proposal gate.
module Raft.Core.Tests.ReconfigQuorumTests

open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

type private Case = { Voters: uint64 list; Started: Set<uint64>; Other: uint64 }

let private genCase =
    gen {
        let! n = Gen.int32 (Range.constant 0 7)
        let voters = [ 1UL .. uint64 n ]
        let! flags = Gen.list (Range.singleton n) Gen.bool
        let started = List.zip voters flags |> List.filter snd |> List.map fst |> Set.ofList
        // A voter, or (for additions and promotions) an id that is not one.
        let! other = Gen.uint64 (Range.constant 1UL (uint64 n + 1UL))
        return { Voters = voters; Started = started; Other = other }
    }

/// etcd's counts, as its Go code does them.
module private Etcd =
    let readyToAdd (c: Case) =
        let nmembers = c.Voters.Length + 1
        let nstarted = c.Started.Count
        (nstarted = 1 && nmembers = 2) || nstarted >= nmembers / 2 + 1

    let readyToRemove (c: Case) =
        let rest = c.Voters |> List.filter ((<>) c.Other)
        let nstarted = rest |> List.filter c.Started.Contains |> List.length
        nstarted >= rest.Length / 2 + 1

    let readyToPromote (c: Case) =
        let nmembers = c.Voters.Length + 1
        let nstarted = c.Started.Count + 1
        nstarted >= nmembers / 2 + 1

    /// mayRemoveMember once the member is known active: (active - 1) < 1 + (len(m) - 1) / 2 refuses.
    let mayRemoveActive (c: Case) =
        let active = c.Started.Add c.Other |> Set.filter (fun id -> List.contains id c.Voters)
        not (active.Count - 1 < 1 + (c.Voters.Length - 1) / 2)

type private Checks =
    { Add: uint64 list -> (uint64 -> bool) -> uint64 -> bool
      Remove: uint64 list -> (uint64 -> bool) -> uint64 -> bool
      Promote: uint64 list -> (uint64 -> bool) -> uint64 -> bool
      MayRemove: uint64 list -> (uint64 -> bool) -> uint64 -> bool }

let private core =
    { Add = ReconfigQuorum.readyToAdd
      Remove = ReconfigQuorum.readyToRemove
      Promote = ReconfigQuorum.readyToPromote
      MayRemove = ReconfigQuorum.mayRemoveActive }

/// Counts a tie as a majority (n / 2 instead of n / 2 + 1), a classic slip.
let private tieIsMajority (voters: uint64 list) (up: uint64 -> bool) =
    not voters.IsEmpty && (voters |> List.filter up |> List.length) * 2 >= voters.Length

let private broken =
    { Add = fun voters started id -> (match voters with [ only ] when started only -> true | _ -> tieIsMajority (id :: voters) (fun v -> v <> id && started v))
      Remove = fun voters started id -> tieIsMajority (voters |> List.filter ((<>) id)) started
      Promote = fun voters started id -> tieIsMajority (id :: voters) (fun v -> v = id || started v)
      MayRemove = fun voters active id -> tieIsMajority (voters |> List.filter ((<>) id)) active }

let private agreesWithEtcd (checks: Checks) =
    property {
        let! c = genCase
        let started = c.Started.Contains
        let newId = uint64 c.Voters.Length + 1UL
        let leaving = if List.contains c.Other c.Voters then c.Other else 1UL
        let c' = { c with Other = leaving }
        let results =
            [ "add", checks.Add c.Voters started newId, Etcd.readyToAdd c
              "promote", checks.Promote c.Voters started newId, Etcd.readyToPromote c
              if not c.Voters.IsEmpty then
                  "remove", checks.Remove c.Voters started leaving, Etcd.readyToRemove c'
                  "may-remove", checks.MayRemove c.Voters (fun id -> id = leaving || started id) leaving, Etcd.mayRemoveActive c' ]
        match results |> List.tryFind (fun (_, ours, etcd) -> ours <> etcd) with
        | Some(name, ours, etcd) -> failwithf "%s: ours %b, etcd %b for %A" name ours etcd c
        | None -> ()
    }

[<Tests>]
let tests =
    testList "ReconfigQuorum" [
        testCase "Core's membership quorum checks agree with etcd's arithmetic" <| fun () ->
            Hog.holds (agreesWithEtcd core)

        testCase "tieIsMajority is caught by: Core's membership quorum checks agree with etcd's arithmetic" <| fun () ->
            Expect.isTrue (Hog.caught (agreesWithEtcd broken)) "a tie counted as a majority is caught"

        testCase "proposals wait while no leader is known and go in, all, once one is" <| fun () ->
            Expect.isFalse (ProposalGate.admit 0UL) "no leader: held"
            Expect.isTrue (ProposalGate.admit 3UL) "a leader: proposed"
            Expect.isFalse (ProposalGate.release 0UL 2) "still no leader: still held"
            Expect.isTrue (ProposalGate.release 3UL 2) "a leader: released"
            Expect.isFalse (ProposalGate.release 3UL 0) "nothing held: nothing to release"
    ]
