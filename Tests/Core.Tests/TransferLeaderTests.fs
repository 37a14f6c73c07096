/// Leadership transfer: to an up-to-date follower, to a lagging one, aborted on timeout, and the
/// requests a leader ignores.
module Raft.Core.Tests.TransferLeaderTests

open Xunit
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]

let private transfer (leader: uint64) (transferee: uint64) (net: Net) =
    Net.update leader (Member.map (RawNode.transferLeader transferee)) net

let private transferee (id: uint64) (net: Net) = (RawNode.basicStatus (Net.get id net).Rn).LeadTransferee

[<Fact>]
let ``leadership moves to an up-to-date follower at the next term`` () =
    for configure in [ id; (fun (c: Config) -> { c with CheckQuorum = true; PreVote = true }) ] do
        let net = Net.createWith configure ids [] |> Net.elect 1UL |> transfer 1UL 2UL |> Net.stabilize
        Assert.Equal<uint64 list>([ 2UL ], Net.leaders net)
        Assert.Equal(2UL, (Net.raft 2UL net).Term)
        Assert.Equal(0UL, transferee 1UL net)

[<Fact>]
let ``a lagging transferee is caught up first and then takes over with every entry`` () =
    let net =
        Net.create ids
        |> Net.elect 1UL
        |> Net.isolate [ 3UL ]
        |> Net.proposeOk 1UL "a"
        |> Net.proposeOk 1UL "b"
        |> Net.stabilize
        |> Net.heal
        |> transfer 1UL 3UL
    Assert.Equal(3UL, transferee 1UL net)
    // Proposals are refused while the transfer is under way.
    let net, res = Net.propose 1UL "c" net
    Assert.Equal(Error ErrProposalDropped, res)
    let net = Net.stabilize net
    Assert.Equal<uint64 list>([ 3UL ], Net.leaders net)
    Assert.Equal<string list>([ "a"; "b" ], Net.appliedData 3UL net)

[<Fact>]
let ``a transfer that does not finish within an election timeout is abandoned`` () =
    let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 3UL ] |> transfer 1UL 3UL |> Net.stabilize
    Assert.Equal(3UL, transferee 1UL net)
    let net = net |> Net.ticks 1UL 9 |> Net.stabilize
    Assert.Equal(3UL, transferee 1UL net)
    let net = net |> Net.ticks 1UL 1 |> Net.stabilize
    Assert.Equal(0UL, transferee 1UL net)
    Assert.Equal<uint64 list>([ 1UL ], Net.leaders net)
    let net = net |> Net.proposeOk 1UL "after" |> Net.stabilize
    Assert.Equal<string list>([ "after" ], Net.appliedData 2UL net)

[<Fact>]
let ``a leader ignores transfers to itself, to learners and to unknown nodes`` () =
    let net = Net.createWith id ids [ 4UL ] |> Net.elect 1UL
    for target in [ 1UL; 4UL; 9UL ] do
        let net = net |> transfer 1UL target |> Net.stabilize
        Assert.Equal(0UL, transferee 1UL net)
        Assert.Equal<uint64 list>([ 1UL ], Net.leaders net)
        Assert.Equal(1UL, (Net.raft 1UL net).Term)

[<Fact>]
let ``a follower passes a transfer request on to its leader`` () =
    let net = Net.create ids |> Net.elect 1UL |> transfer 2UL 3UL |> Net.stabilize
    Assert.Equal<uint64 list>([ 3UL ], Net.leaders net)

[<Fact>]
let ``a new request for another transferee replaces the one in progress`` () =
    let net = Net.create ids |> Net.elect 1UL |> Net.isolate [ 3UL ] |> transfer 1UL 3UL |> Net.stabilize
    let net = net |> transfer 1UL 2UL |> Net.stabilize
    Assert.Equal<uint64 list>([ 2UL ], Net.leaders net)
