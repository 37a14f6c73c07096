using System.Text.Json.Nodes;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Grpc;

/// <summary>The JSON gateway's answer to compare a gRPC client's answer with.</summary>
internal static class GatewayJson
{
    /// <summary>POSTs <paramref name="body"/> to <paramref name="path"/> on the member and fails the test unless it answers 200.</summary>
    public static async Task<JsonNode> PostAsync(Member m, string path, string body)
    {
        var r = await m.Client.PostAsync(path, body);
        Assert.True(r is { Ok: true }, $"gateway {path} {body} on {m.Name}: {r}");
        return JsonNode.Parse(r!.Body)!;
    }
}
