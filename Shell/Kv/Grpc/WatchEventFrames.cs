using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;
using Raft.Kv.Watch;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// The event responses of one watch stream as gRPC messages written straight into the response body:
/// the watchers of one key get the same events at the same revision, so the header and events are
/// serialized once and only the watch id is written per watcher (a fan-out to 1,000 watchers spent a
/// tenth of its time serializing the same response again, and another tenth in grpc-dotnet's write of
/// each one, a task and a state machine per message). The bytes are those Google.Protobuf writes for
/// the whole <see cref="Pb.WatchResponse"/>: its fields in number order, header (1), watch_id (2) and
/// events (11), the others unset in an event response.
/// </summary>
internal sealed class WatchEventFrames
{
    // gRPC's message prefix: a compressed flag and the length, big-endian.
    private const int PrefixLength = 5;
    private const byte WatchIdTag = 2 << 3;

    // What the encoded bytes are for: the same events, filters and header.
    private IReadOnlyList<MvccEvent>? _events;
    private (bool NoPut, bool NoDelete, bool PrevKv) _filters;
    private ResponseHeader? _header;
    private byte[] _headerField = [];
    private byte[] _eventFields = [];
    private int _eventCount;

    /// <summary>
    /// Writes the response for <paramref name="batch"/> (an event response) into <paramref name="body"/>
    /// as one uncompressed gRPC message, or nothing when the watcher's filters leave no event. False
    /// when it must go through gRPC's writer: split into fragments, or past <paramref name="maxSendBytes"/>
    /// (gRPC's writer refuses it with its status).
    /// </summary>
    public bool TryWrite(GatewayContext c, WatchBatch batch, IBufferWriter<byte> body, int maxSendBytes)
    {
        var spec = batch.Watcher!.Spec;
        var header = c.Header(batch.Revision);
        var filters = (spec.NoPut, spec.NoDelete, spec.PrevKv);
        if (!SameEvents(batch.Events, _events) || filters != _filters || header != _header)
        {
            Encode(GrpcConvert.Header(header), WatchResponses.Events(c, batch));
            (_events, _filters, _header) = (batch.Events, filters, header);
        }
        if (_eventCount == 0) return true;
        var length = Length(batch.WatchId);
        if (length > maxSendBytes) return false;
        if (spec.Fragment && _eventCount > 1 && length >= c.Options.MaxRequestBytes) return false;
        Write(body, batch.WatchId);
        return true;
    }

    // The same events: the list the hub shares between the watchers it matched whole, or lists of the
    // same events (watchers catching up together select theirs from one read of history).
    private static bool SameEvents(IReadOnlyList<MvccEvent> a, IReadOnlyList<MvccEvent>? b)
    {
        if (ReferenceEquals(a, b)) return true;
        if (b is null || a.Count != b.Count) return false;
        for (var i = 0; i < a.Count; i++)
        {
            if (!ReferenceEquals(a[i], b[i])) return false;
        }
        return true;
    }

    /// <summary>For the tests' broken variant: the watch id after the events (protobuf reads the same message, but not etcd's bytes).</summary>
    internal bool WatchIdAfterEvents { get; set; }

    /// <summary>Serializes the parts every watcher's response shares.</summary>
    internal void Encode(Pb.ResponseHeader header, IReadOnlyList<Pb.Event> events)
    {
        _headerField = new Pb.WatchResponse { Header = header }.ToByteArray();
        var fields = new Pb.WatchResponse();
        fields.Events.Add(events);
        _eventFields = fields.ToByteArray();
        _eventCount = events.Count;
        _events = null;
    }

    /// <summary>The length of the message for watch <paramref name="watchId"/> (without gRPC's prefix).</summary>
    internal long Length(long watchId) =>
        (long)_headerField.Length + (watchId == 0 ? 0 : 1 + CodedOutputStream.ComputeInt64Size(watchId)) + _eventFields.Length;

    /// <summary>Writes the message for watch <paramref name="watchId"/> with gRPC's prefix (uncompressed).</summary>
    internal void Write(IBufferWriter<byte> body, long watchId)
    {
        var length = (int)Length(watchId);
        var span = body.GetSpan(PrefixLength + length);
        span[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
        var at = PrefixLength;
        _headerField.CopyTo(span[at..]);
        at += _headerField.Length;
        if (WatchIdAfterEvents)
        {
            _eventFields.CopyTo(span[at..]);
            at += _eventFields.Length;
        }
        if (watchId != 0)
        {
            span[at++] = WatchIdTag;
            for (var v = (ulong)watchId; ; v >>= 7)
            {
                if (v < 0x80)
                {
                    span[at++] = (byte)v;
                    break;
                }
                span[at++] = (byte)(v | 0x80);
            }
        }
        if (!WatchIdAfterEvents) _eventFields.CopyTo(span[at..]);
        body.Advance(PrefixLength + length);
    }
}
