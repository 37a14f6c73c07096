/// The messages a node has queued for its next Ready (etcd's `raft.msgs`), oldest first. A node
/// queues one or more messages on almost every step, so the queue is a view of an array that
/// successive node versions share, in the manner of EntrySeq: a view owns the cells
/// [Start, Start+Count) and writes the cell after them in place only when it is the first to
/// claim it (an atomic compare-and-swap on the array's claimed length), so an older node never
/// sees its messages change; otherwise it copies into a fresh array. A Ready takes the messages
/// and the node starts over with no array, so an array lives no longer than the node versions
/// that use it; the first array it gets is sized for as many messages as the last Ready had.
namespace Raft.Core

open System

/// The array shared by Outbox views.
type internal OutboxBuffer = SharedBuffer<Message>

/// An immutable queue of messages, oldest first (a struct: the node holds it inline).
[<Struct; NoEquality; NoComparison>]
type internal Outbox =
    val Buffer: OutboxBuffer
    /// Where the messages start in Buffer; without a Buffer, the size to give the first one.
    val Start: int
    val Count: int
    new(buf, start, count) = { Buffer = buf; Start = start; Count = count }

    /// No messages.
    static member Empty = Outbox(null, 0, 0)

    /// No messages, expecting about `expected` of them before the next Ready.
    static member Expecting(expected: int) = Outbox(null, expected, 0)

    member o.IsEmpty = o.Count = 0

    /// The queue with `m` added last.
    member o.Add(m: Message) =
        let buf = o.Buffer
        let next = o.Start + o.Count
        if isNull buf then
            // A Ready often carries a message or two; a leader's, under load, one per follower
            // and proposal, much like the last one.
            let items = Array.zeroCreate (max 4 (o.Start + o.Start / 4))
            items[0] <- m
            Outbox(OutboxBuffer(items, 1), 0, 1)
        elif next < buf.Items.Length && buf.TryClaim next then
            buf.Items[next] <- m
            Outbox(buf, o.Start, o.Count + 1)
        else
            let items = Array.zeroCreate (max 4 (2 * (o.Count + 1)))
            if o.Count > 0 then Array.Copy(buf.Items, o.Start, items, 0, o.Count)
            items[o.Count] <- m
            Outbox(OutboxBuffer(items, o.Count + 1), 0, o.Count + 1)

    /// The messages, oldest first.
    member o.AsSpan() =
        if o.Count = 0 then ReadOnlySpan<Message>.Empty
        else ReadOnlySpan<Message>(o.Buffer.Items, o.Start, o.Count)

    /// The messages as a list, newest first.
    member o.ToListNewestFirst() =
        let mutable l = []
        for m in o.AsSpan() do
            l <- m :: l
        l
