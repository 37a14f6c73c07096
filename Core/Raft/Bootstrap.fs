/// etcd's RawNode.Bootstrap (bootstrap.go): the initial membership of a brand-new cluster.
namespace Raft.Core

[<RequireQualifiedAccess>]
module Bootstrap =
    /// Appends a ConfChangeAddNode entry per peer at term 1, commits them and applies them to the
    /// configuration, so that the node can campaign at once. The entries stay unstable and show
    /// up in the next Ready (and as committed entries, which the host applies again, harmlessly).
    /// Errors when there is no peer or the storage is not empty.
    let bootstrap (peers: Peer list) (rn: RawNode) : Result<RawNode, string> =
        if List.isEmpty peers then
            Error "must provide at least one peer to Bootstrap"
        elif MemoryStorage.lastIndex (RawNode.storage rn) <> 0UL then
            Error "can't bootstrap a nonempty Storage"
        else
            let r = Raft.becomeFollower 1UL Raft.NoNode rn
            let ents =
                peers
                |> List.mapi (fun i p ->
                    let cc = { ID = 0UL; Type = ConfChangeAddNode; NodeID = p.ID; Context = p.Context }
                    { Type = EntryConfChange
                      Term = 1UL
                      Index = uint64 (i + 1)
                      Data = Codec.marshalConfChange cc })
                |> Array.ofList
            let l, lines = RaftLog.append (EntrySeq.ofArray ents) r.RaftLog
            // `r` is the fresh copy becomeFollower returned: no one else holds it yet.
            r.RaftLog <- { l with Committed = uint64 ents.Length }
            r.Logs <- List.rev lines @ r.Logs
            // Apply them now (after the append, so that progress starts past them); the
            // application applies them again from the committed entries.
            let r =
                peers
                |> List.fold
                    (fun r p ->
                        let cc = { ID = 0UL; Type = ConfChangeAddNode; NodeID = p.ID; Context = [||] }
                        fst (Raft.applyConfChange (Pb.confChangeAsV2 cc) r))
                    r
            // Nothing is persisted yet: the first Ready must carry the hard state.
            Ok(RawNode(r, rn.PrevSoftSt, Pb.emptyHardState))
