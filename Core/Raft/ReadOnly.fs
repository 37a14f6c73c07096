/// etcd's readOnly: ReadIndex requests waiting for a quorum of heartbeat acknowledgements
/// (ReadOnlySafe) or answered from the leader's lease (ReadOnlyLeaseBased).
namespace Raft.Core

/// How read-only requests are served (etcd's ReadOnlyOption).
type ReadOnlyOption =
    /// Linearizable by a round of heartbeats with a quorum. The default.
    | ReadOnlySafe
    /// Linearizable by the leader's lease; affected by clock drift. Needs CheckQuorum.
    | ReadOnlyLeaseBased

/// A pending ReadIndex request, the commit index when it arrived, and who acknowledged it.
type ReadIndexStatus =
    { Req: Message
      Index: uint64
      Acks: Map<uint64, bool> }

type ReadOnly =
    { Option: ReadOnlyOption
      PendingReadIndex: Map<string, ReadIndexStatus>
      /// Request contexts, newest first.
      ReadIndexQueue: string list }

[<RequireQualifiedAccess>]
module ReadOnly =
    /// The map key of a request context: one char per byte, so distinct contexts stay distinct.
    let key (ctx: byte[]) = System.Text.Encoding.Latin1.GetString ctx

    let create (option: ReadOnlyOption) =
        { Option = option
          PendingReadIndex = Map.empty
          ReadIndexQueue = [] }

    /// Adds a request (m.Entries[0].Data is its context) with the commit index at its arrival;
    /// a context already pending is ignored.
    let addRequest (index: uint64) (m: Message) (ro: ReadOnly) =
        let s = key m.Entries[0].Data
        if ro.PendingReadIndex.ContainsKey s then
            ro
        else
            { ro with
                PendingReadIndex = ro.PendingReadIndex.Add(s, { Req = m; Index = index; Acks = Map.empty })
                ReadIndexQueue = s :: ro.ReadIndexQueue }

    /// Records that `id` acknowledged the heartbeat carrying `context`; returns the acks so far,
    /// or None when no request has that context.
    let recvAck (id: uint64) (context: byte[]) (ro: ReadOnly) : ReadOnly * Map<uint64, bool> option =
        let s = key context
        match ro.PendingReadIndex.TryFind s with
        | None -> ro, None
        | Some rs ->
            let rs = { rs with Acks = rs.Acks.Add(id, true) }
            { ro with PendingReadIndex = ro.PendingReadIndex.Add(s, rs) }, Some rs.Acks

    /// Dequeues the requests up to and including the one whose context is m.Context, oldest first;
    /// nothing when that context is not queued.
    let advance (m: Message) (ro: ReadOnly) : ReadOnly * ReadIndexStatus list =
        let ctx = key m.Context
        let queue = List.rev ro.ReadIndexQueue
        match List.tryFindIndex (fun c -> c = ctx) queue with
        | None -> ro, []
        | Some i ->
            let served, rest = List.splitAt (i + 1) queue
            let rss =
                served
                |> List.map (fun c ->
                    match ro.PendingReadIndex.TryFind c with
                    | Some rs -> rs
                    | None -> Invariant.broken "cannot find corresponding read state from pending map")
            let pending = rss |> List.fold (fun (p: Map<string, ReadIndexStatus>) rs -> p.Remove(key rs.Req.Entries[0].Data)) ro.PendingReadIndex
            { ro with
                PendingReadIndex = pending
                ReadIndexQueue = List.rev rest },
            rss

    /// The context of the newest pending request ("" when none).
    let lastPendingRequestCtx (ro: ReadOnly) =
        match ro.ReadIndexQueue with
        | s :: _ -> s
        | [] -> ""
