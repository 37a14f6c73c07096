using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Raft.Kv.Http;
using Raft.Kv.Watch;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcdserverpb.Watch over gRPC (etcd's serverWatchStream): requests create, cancel and ask for
/// progress on one <see cref="WatchStream"/> of the <see cref="WatcherHub"/>; its responses go out
/// in order. A client that stops reading stops this send loop only: its watchers fall behind and
/// catch up from history later, the apply loop never waits for it.
/// </summary>
internal sealed class WatchGrpcService : Pb.Watch.WatchBase
{
    // At most this many responses wait in the response pipe unflushed, however busy the stream.
    private const int FlushEvery = 64;

    public override async Task Watch(IAsyncStreamReader<Pb.WatchRequest> requestStream, IServerStreamWriter<Pb.WatchResponse> responseStream, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var c = GatewayContext.Of(http);
        using var stream = http.RequestServices.GetRequiredService<WatcherHub>().OpenStream(http.Connection.Id);
        // A send that fails (an answer past the send limit) ends the call with its status, as etcd's
        // sendLoop ending ends the stream; the receive side stops with it.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var ct = ended.Token;
        // Responses are written without a flush each and flushed once the queue is empty (or every
        // FlushEvery responses): a flush per response made one HTTP/2 DATA frame and socket send per
        // watcher per event, about a fifth of the samples of a fan-out to 1,000 watchers. etcd's transport
        // coalesces the same way (it flushes when its write queue runs dry). What is queued is taken
        // without an await per response.
        context.WriteOptions = new WriteOptions(WriteFlags.BufferHint);
        var send = Task.Run(async () =>
        {
            try
            {
                var unflushed = 0;
                var frames = new WatchEventFrames();
                var body = http.Response.BodyWriter;
                var maxSend = c.Options.MaxSendBytes;
                while (await stream.WaitToReadAsync(ct))
                {
                    while (stream.TryRead(out var batch))
                    {
                        // Event responses go into the body directly once gRPC's writer has started the
                        // response (the created answer always comes first), without an await each.
                        if (batch.Kind == WatchBatchKind.Events && http.Response.HasStarted && frames.TryWrite(c, batch, body, maxSend))
                        {
                            if (++unflushed >= FlushEvery)
                            {
                                await body.FlushAsync(ct);
                                unflushed = 0;
                            }
                            continue;
                        }
                        foreach (var response in WatchResponses.Of(c, batch))
                        {
                            await responseStream.WriteAsync(response, ct);
                            if (++unflushed >= FlushEvery)
                            {
                                await http.Response.BodyWriter.FlushAsync(ct);
                                unflushed = 0;
                            }
                        }
                    }
                    if (unflushed > 0)
                    {
                        await http.Response.BodyWriter.FlushAsync(ct);
                        unflushed = 0;
                    }
                }
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
                await ended.CancelAsync();
                throw;
            }
        }, ct);
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(ct))
            {
                await stream.WaitForControlRoomAsync(ct);
                WatchResponses.Handle(c, stream, request);
            }
            // As etcd's: the client closing its side ends nothing; the call ends when the client cancels it.
            await send;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The send loop may be the one that ended it: its failure is the call's status.
            await Task.WhenAny(send);
            if (send.IsFaulted && !context.CancellationToken.IsCancellationRequested) await send;
        }
        finally
        {
            stream.Dispose();
            try
            {
                await send;
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                // Writes to a call the client ended fail; nothing is left to tell it.
            }
        }
    }
}

/// <summary>Between etcd's watch messages and the hub, for the gRPC service and the gateway's <c>/v3/watch</c>.</summary>
internal static class WatchResponses
{
    /// <summary>
    /// Applies one request to the stream (a create, a cancel or a progress request). A create needs
    /// read on its range when auth is on (etcd's isWatchPermitted); a refused one is answered created
    /// and canceled with etcd's "permission denied".
    /// </summary>
    public static void Handle(GatewayContext c, WatchStream stream, Pb.WatchRequest request)
    {
        switch (request.RequestUnionCase)
        {
            case Pb.WatchRequest.RequestUnionOneofCase.CreateRequest:
                var create = request.CreateRequest;
                // etcd checks "\0" for an empty key and reads a range end of "\0" as every key from the key on.
                var key = create.Key.IsEmpty ? new byte[] { 0 } : create.Key.Span;
                if (c.Store.Auth.Enabled && Auth.AuthChecker.CheckRange(c.Store.Auth, c.Http, key, create.RangeEnd.Span, Auth.AuthPermission.Read) is not null)
                {
                    stream.Refuse(create.WatchId, Auth.AuthErrors.PermissionDenied.Message);
                    break;
                }
                stream.Watch(Spec(create));
                break;
            case Pb.WatchRequest.RequestUnionOneofCase.CancelRequest:
                stream.Cancel(request.CancelRequest.WatchId);
                break;
            case Pb.WatchRequest.RequestUnionOneofCase.ProgressRequest:
                stream.RequestProgress();
                break;
        }
    }

    public static WatchSpec Spec(Pb.WatchCreateRequest r) => new(
        r.Key.Memory, r.RangeEnd.Memory, r.StartRevision,
        // etcd's AutoWatchID is 0: the server picks.
        r.WatchId > 0 ? r.WatchId : -1,
        r.ProgressNotify,
        NoPut: r.Filters.Contains(Pb.WatchCreateRequest.Types.FilterType.Noput),
        NoDelete: r.Filters.Contains(Pb.WatchCreateRequest.Types.FilterType.Nodelete),
        PrevKv: r.PrevKv, Fragment: r.Fragment);

    /// <summary>
    /// The responses for one queued batch (etcd's sendLoop): events filtered as the watcher asked,
    /// each with its previous pair when asked for, split into fragments when asked for and larger than
    /// the request limit; nothing for events all filtered out.
    /// </summary>
    public static IEnumerable<Pb.WatchResponse> Of(GatewayContext c, WatchBatch b)
    {
        switch (b.Kind)
        {
            case WatchBatchKind.Created:
                yield return new Pb.WatchResponse
                {
                    Header = GrpcConvert.Header(c.Header(b.Revision)), WatchId = b.WatchId, Created = true,
                    Canceled = b.CancelReason is not null, CancelReason = b.CancelReason ?? "",
                };
                break;
            case WatchBatchKind.Canceled:
                yield return new Pb.WatchResponse { Header = GrpcConvert.Header(c.Header(b.Revision)), WatchId = b.WatchId, Canceled = true };
                break;
            case WatchBatchKind.Compacted:
                // etcd's compaction answer carries no revision in its header.
                yield return new Pb.WatchResponse
                {
                    Header = GrpcConvert.Header(c.Header(0)), WatchId = b.WatchId, Canceled = true, CompactRevision = b.CompactRevision,
                };
                break;
            case WatchBatchKind.Progress:
                yield return new Pb.WatchResponse { Header = GrpcConvert.Header(c.Header(b.Revision)), WatchId = b.WatchId };
                break;
            case WatchBatchKind.Events:
                var events = Events(c, b);
                if (events.Count == 0) yield break;
                var header = GrpcConvert.Header(c.Header(b.Revision));
                var limit = b.Watcher!.Spec.Fragment ? c.Options.MaxRequestBytes : int.MaxValue;
                foreach (var r in Fragments(header, b.WatchId, events, limit)) yield return r;
                break;
        }
    }

    /// <summary>The events of an event batch as sent: filtered as the watcher asked, each with its previous pair when asked for.</summary>
    public static List<Pb.Event> Events(GatewayContext c, WatchBatch b)
    {
        var spec = b.Watcher!.Spec;
        var events = new List<Pb.Event>(b.Events.Count);
        foreach (var e in b.Events)
        {
            if (e.Type == Mvcc.MvccEventType.Put ? spec.NoPut : spec.NoDelete) continue;
            var ev = new Pb.Event { Type = (Pb.Event.Types.EventType)(int)e.Type, Kv = GrpcConvert.KeyValue(e.Kv) };
            if (spec.PrevKv && !(e.Type == Mvcc.MvccEventType.Put && e.Kv.Version == 1)) ev.PrevKv = PrevKv(c, e.Kv);
            events.Add(ev);
        }
        return events;
    }

    // The pair before the event (etcd reads the store at the revision before it); none once compacted.
    private static Pb.KeyValue? PrevKv(GatewayContext c, Mvcc.KeyValue kv)
    {
        try
        {
            var r = c.Store.Store.Range(kv.Key, ReadOnlyMemory<byte>.Empty, new Mvcc.RangeOptions(Limit: 1, Revision: kv.ModRevision - 1));
            return r.Kvs.Count > 0 ? GrpcConvert.KeyValue(r.Kvs[0]) : null;
        }
        catch (Mvcc.MvccException)
        {
            return null;
        }
    }

    // etcd's sendFragments: whole when small enough or a single event; else as many events per
    // response as stay under the limit (at least one), every part but the last marked fragment.
    private static IEnumerable<Pb.WatchResponse> Fragments(Pb.ResponseHeader header, long id, List<Pb.Event> events, int limit)
    {
        var whole = new Pb.WatchResponse { Header = header, WatchId = id };
        whole.Events.Add(events);
        if (events.Count < 2 || whole.CalculateSize() < limit)
        {
            yield return whole;
            yield break;
        }
        var baseSize = new Pb.WatchResponse { Header = header, WatchId = id, Fragment = true }.CalculateSize();
        var i = 0;
        while (i < events.Count)
        {
            var part = new Pb.WatchResponse { Header = header, WatchId = id, Fragment = true };
            var size = baseSize;
            while (i < events.Count)
            {
                var eventSize = Google.Protobuf.CodedOutputStream.ComputeMessageSize(events[i]) + 1;
                if (part.Events.Count > 0 && size + eventSize >= limit) break;
                part.Events.Add(events[i++]);
                size += eventSize;
            }
            if (i == events.Count) part.Fragment = false;
            yield return part;
        }
    }
}
