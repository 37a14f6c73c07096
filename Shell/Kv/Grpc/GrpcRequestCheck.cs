using System.IO.Pipelines;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// Puts <see cref="CheckedGrpcRequestStream"/> in front of every etcdserverpb method's request body,
/// as an endpoint convention (the generated services parse with Google.Protobuf's parser, which
/// cannot be handed a checked input any other way).
/// </summary>
internal static class GrpcRequestCheck
{
    // "/etcdserverpb.KV/Range" -> RangeRequest, for every method of rpc.proto's services.
    private static readonly Dictionary<string, MessageDescriptor> Requests =
        Pb.RpcReflection.Descriptor.Services
            .SelectMany(s => s.Methods.Select(m => (Path: $"/{s.FullName}/{m.Name}", m.InputType)))
            .ToDictionary(p => p.Path, p => p.InputType, StringComparer.Ordinal);

    /// <summary>The request message of a method path, if it is one of etcd's.</summary>
    public static MessageDescriptor? RequestOf(string path) => Requests.GetValueOrDefault(path);

    /// <summary>Wraps the endpoint's request delegate.</summary>
    public static void Apply(EndpointBuilder endpoint)
    {
        var next = endpoint.RequestDelegate ?? throw new InvalidOperationException("broken invariant: a gRPC endpoint without a request delegate");
        endpoint.RequestDelegate = http =>
        {
            if (RequestOf(http.Request.Path.Value ?? "") is { } request)
            {
                var max = http.RequestServices.GetRequiredService<IOptions<KvServiceOptions>>().Value.EffectiveMaxRecvBytes;
                var gzip = string.Equals(http.Request.Headers["grpc-encoding"], "gzip", StringComparison.OrdinalIgnoreCase);
                var body = new CheckedGrpcRequestStream(http.Request.Body, request, max, gzip);
                http.Request.Body = body;
                http.Features.Set<IRequestBodyPipeFeature>(new BodyPipe(PipeReader.Create(body)));
            }
            return next(http);
        };
    }

    private sealed class BodyPipe(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader => reader;
    }
}
