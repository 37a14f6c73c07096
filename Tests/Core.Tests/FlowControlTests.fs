/// The size limits (MaxSizePerMsg, MaxInflightMsgs, MaxUncommittedEntriesSize,
/// MaxCommittedSizePerReady) and DisableProposalForwarding.
module Raft.Core.Tests.FlowControlTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]

/// A 256-byte payload whose first bytes tell it apart.
let private payload (i: int) = (sprintf "%03d" i).PadRight(256, '.')

let private proposeMany (id: uint64) (n: int) (net: Net) = Seq.fold (fun net i -> Net.proposeOk id (payload i) net) net (seq { 1..n })

let private size (ents: Entry seq) = ents |> Seq.sumBy (fun e -> uint64 (Codec.entrySize e))

let private appsWithEntries (sent: Message list) = sent |> List.filter (fun m -> m.Type = MsgApp && m.Entries.Length > 0)

[<Tests>]
let tests =
    testList "FlowControl" [
        testCase "appends stay within MaxSizePerMsg, except that a single entry always goes" <| fun () ->
            let limit = 1000UL
            let net =
                Net.createWith (fun (c: Config) -> { c with MaxSizePerMsg = limit }) ids []
                |> Net.elect 1UL
                |> Net.isolate [ 2UL; 3UL ]
                |> proposeMany 1UL 20
                |> Net.stabilize
                |> Net.heal
                |> Net.tick 1UL
            let net, sent = Net.stabilizeRecording net
            let apps = appsWithEntries sent
            for m in apps do Expect.isTrue (m.Entries.Length = 1 || size m.Entries <= limit) "each append holds one entry or at most the limit"
            // The catch-up batches as much as the limit allows: three 256-byte entries.
            Expect.equal (apps |> List.map (fun m -> m.Entries.Length) |> List.max) 3 "apps |> List.map (fun m -> m.Entries.Length) |> List.max"
            Expect.equal (Net.appliedData 3UL net) ([ for i in 1..20 -> payload i ]) "Net.appliedData 3UL net"
            // A single entry over the limit is still sent, on its own.
            let big = System.String('x', 2000)
            let net, sent = net |> Net.proposeOk 1UL big |> Net.stabilizeRecording
            Expect.exists (appsWithEntries sent) (fun m -> m.Entries.Length = 1 && size m.Entries > limit) "an append of one entry larger than the limit"
            Expect.equal (Net.appliedData 2UL net |> List.last) big "Net.appliedData 2UL net |> List.last"

        testCase "no more than MaxInflightMsgs appends are in flight to a follower" <| fun () ->
            let net =
                Net.createWith (fun (c: Config) -> { c with MaxInflightMsgs = 3 }) ids []
                |> Net.elect 1UL
                |> Net.isolate [ 3UL ]
                // n2's acknowledgements are lost, so nothing in flight is ever freed.
                |> Net.dropWhere (fun m -> m.Type = MsgAppResp && m.From = 2UL)
                |> proposeMany 1UL 10
            let net, sent = Net.stabilizeRecording net
            Expect.equal (appsWithEntries sent |> List.filter (fun m -> m.To = 2UL) |> List.length) 3 "appends with entries to node 2"
            let pr = (Net.raft 1UL net).Prs.Progress[2UL]
            Expect.equal (pr.State, pr.Inflights.Full) (StateReplicate, true) "(pr.State, pr.Inflights.Full)"
            // Once acknowledgements arrive again, the rest follows.
            let net = net |> Net.heal |> Net.tick 1UL |> Net.stabilize
            Expect.equal (Net.appliedData 2UL net) ([ for i in 1..10 -> payload i ]) "Net.appliedData 2UL net"

        testCase "a leader drops proposals beyond MaxUncommittedEntriesSize until its tail commits" <| fun () ->
            let net =
                Net.createWith (fun (c: Config) -> { c with MaxUncommittedEntriesSize = 1024UL }) ids []
                |> Net.elect 1UL
                |> Net.isolate [ 2UL; 3UL ]
            // 100-byte proposals: ten fit in 1024 bytes, the eleventh does not.
            let hundred (i: int) = (string i).PadRight(100, '.')
            let net = Seq.fold (fun net i -> Net.proposeOk 1UL (hundred i) net) net (seq { 1..10 })
            let net, res = Net.propose 1UL (hundred 11) net
            Expect.equal res (Error ErrProposalDropped) "the proposal is dropped"
            // Once the tail commits, the leader takes proposals again.
            let net = net |> Net.stabilize |> Net.heal |> Net.isolate [ 3UL ] |> Net.tick 1UL |> Net.stabilize
            Expect.equal ((Net.appliedData 2UL net).Length) 10 "(Net.appliedData 2UL net).Length"
            let _, res = Net.propose 1UL (hundred 11) net
            Expect.equal res (Ok()) "the proposal is accepted"

        testCase "committed entries are handed out in Readys of at most MaxCommittedSizePerReady bytes" <| fun () ->
            let limit = 1000UL
            let m =
                Member.create { Config.defaults 1UL with MaxCommittedSizePerReady = limit } (Member.confState [ 1UL ] [])
                |> Member.map (fun rn -> nodeOf (RawNode.campaign rn))
            let m = Seq.fold (fun m i -> fst (Member.tryMap (RawNode.propose (System.Text.Encoding.UTF8.GetBytes(payload i))) m)) m (seq { 1..10 })
            let rec drain (m: Member) (batches: Entry[] list) =
                if RawNode.hasReady m.Rn then
                    let rd = RawNode.peekReady m.Rn
                    drain (fst (Member.handleReady m)) (rd.CommittedEntries :: batches)
                else
                    m, List.rev batches |> List.filter (fun b -> b.Length > 0)
            let m, batches = drain m []
            for b in batches do Expect.isTrue (b.Length = 1 || size b <= limit) "each batch holds one entry or at most the limit"
            Expect.isTrue (batches.Length >= 3) "batches.Length >= 3"
            let applied = m.Applied |> List.rev |> List.filter (fun e -> e.Data.Length > 0) |> List.map (fun e -> System.Text.Encoding.UTF8.GetString e.Data)
            Expect.equal applied ([ for i in 1..10 -> payload i ]) "every payload is applied, in order"
            Expect.equal (batches |> Array.concat |> List.ofArray) (m.Applied |> List.rev) "batches |> Array.concat |> List.ofArray"

        testCase "with DisableProposalForwarding a follower drops proposals instead of forwarding them" <| fun () ->
            let net = Net.createWith (fun (c: Config) -> { c with DisableProposalForwarding = true }) ids [] |> Net.elect 1UL
            let net, res = Net.propose 2UL "x" net
            Expect.equal res (Error ErrProposalDropped) "the proposal is dropped"
            Expect.isEmpty ((RawNode.peekReady (Net.get 2UL net).Rn).Messages) "(RawNode.peekReady (Net.get 2UL net).Rn).Messages"
            // The leader still takes proposals; without the option, followers forward them.
            Expect.equal (snd (Net.propose 1UL "y" net)) (Ok()) "snd (Net.propose 1UL \"y\" net)"
            let net, res = Net.create ids |> Net.elect 1UL |> Net.propose 2UL "x"
            Expect.equal res (Ok()) "the proposal is accepted"
            Expect.equal (Net.stabilize net |> Net.appliedData 1UL) ([ "x" ]) "Net.stabilize net |> Net.appliedData 1UL"
    ]
