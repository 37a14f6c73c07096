/// Leadership transfer: to an up-to-date follower, to a lagging one, aborted on timeout, and the
/// requests a leader ignores.
module Raft.Core.Tests.TransferLeaderTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]

let private transfer (leader: uint64) (transferee: uint64) (net: Net) =
    Net.update leader (Member.map (RawNode.transferLeader transferee)) net

let private transferee (id: uint64) (net: Net) = (RawNode.basicStatus (Net.get id net).Rn).LeadTransferee

[<Tests>]
let tests =
    testList "TransferLeader" [
        testCase "leadership moves to an up-to-date follower at the next term" <| fun () ->
            for configure in [ id; (fun (c: Config) -> { c with CheckQuorum = true; PreVote = true }) ] do
                let net = Net.createWith configure ids [] |> Net.elect 1UL |> transfer 1UL 2UL |> Net.stabilize
                Expect.equal (Net.leaders net) ([ 2UL ]) "Net.leaders net"
                Expect.equal ((Net.raft 2UL net).Term) 2UL "(Net.raft 2UL net).Term"
                Expect.equal (transferee 1UL net) 0UL "transferee 1UL net"

        testCase "a lagging transferee is caught up first and then takes over with every entry" <| fun () ->
            let net =
                Net.create ids
                |> Net.elect 1UL
                |> Net.isolate [ 3UL ]
                |> Net.proposeOk 1UL "a"
                |> Net.proposeOk 1UL "b"
                |> Net.stabilize
                |> Net.heal
                |> transfer 1UL 3UL
            Expect.equal (transferee 1UL net) 3UL "transferee 1UL net"
            // Proposals are refused while the transfer is under way.
            let net, res = Net.propose 1UL "c" net
            Expect.equal res (Error ErrProposalDropped) "res"
            let net = Net.stabilize net
            Expect.equal (Net.leaders net) ([ 3UL ]) "Net.leaders net"
            Expect.equal (Net.appliedData 3UL net) ([ "a"; "b" ]) "Net.appliedData 3UL net"

        testCase "a transfer that does not finish within an election timeout is abandoned" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 3UL ] |> transfer 1UL 3UL |> Net.stabilize
            Expect.equal (transferee 1UL net) 3UL "transferee 1UL net"
            let net = net |> Net.ticks 1UL 9 |> Net.stabilize
            Expect.equal (transferee 1UL net) 3UL "transferee 1UL net"
            let net = net |> Net.ticks 1UL 1 |> Net.stabilize
            Expect.equal (transferee 1UL net) 0UL "transferee 1UL net"
            Expect.equal (Net.leaders net) ([ 1UL ]) "Net.leaders net"
            let net = net |> Net.proposeOk 1UL "after" |> Net.stabilize
            Expect.equal (Net.appliedData 2UL net) ([ "after" ]) "Net.appliedData 2UL net"

        testCase "a leader ignores transfers to itself, to learners and to unknown nodes" <| fun () ->
            let net = Net.createWith id ids [ 4UL ] |> Net.elect 1UL
            for target in [ 1UL; 4UL; 9UL ] do
                let net = net |> transfer 1UL target |> Net.stabilize
                Expect.equal (transferee 1UL net) 0UL "transferee 1UL net"
                Expect.equal (Net.leaders net) ([ 1UL ]) "Net.leaders net"
                Expect.equal ((Net.raft 1UL net).Term) 1UL "(Net.raft 1UL net).Term"

        testCase "a follower passes a transfer request on to its leader" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> transfer 2UL 3UL |> Net.stabilize
            Expect.equal (Net.leaders net) ([ 3UL ]) "Net.leaders net"

        testCase "a new request for another transferee replaces the one in progress" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 3UL ] |> transfer 1UL 3UL |> Net.stabilize
            let net = net |> transfer 1UL 2UL |> Net.stabilize
            Expect.equal (Net.leaders net) ([ 2UL ]) "Net.leaders net"
    ]
