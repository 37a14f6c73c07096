using System.Text.Json.Nodes;
using Google.Protobuf;
using Grpc.Core;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// What one server did for one step of an operation: a response message, or a gRPC error (status
/// code and message), each under a label that says which step it was ("put", "watch created" ...).
/// A JSON gateway answer is its HTTP status and body (in <see cref="Detail"/>, code OK).
/// </summary>
internal sealed record Outcome(string Label, IMessage? Response, StatusCode Code = StatusCode.OK, string Detail = "")
{
    public static Outcome Of(string label, IMessage response) => new(label, response);

    public static Outcome Of(string label, RpcException e) => new(label, null, e.StatusCode, e.Status.Detail);

    /// <summary>
    /// A gateway answer: the HTTP status and the body with its keys sorted and the header fields that
    /// differ by nature (cluster_id, member_id, raft_term) taken out, so that equal answers are equal text.
    /// </summary>
    public static Outcome Gateway(string label, int status, string body)
    {
        string text;
        try
        {
            text = Canonical(JsonNode.Parse(body))?.ToJsonString() ?? "null";
        }
        catch (System.Text.Json.JsonException)
        {
            text = body;
        }
        return new(label, null, StatusCode.OK, $"HTTP {status} {text}");
    }

    private static JsonNode? Canonical(JsonNode? node, string? name = null)
    {
        switch (node)
        {
            case JsonObject o:
                var sorted = new JsonObject();
                foreach (var (k, v) in o.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (name == "header" && k is "cluster_id" or "member_id" or "raft_term")
                        continue;
                    sorted[k] = Canonical(v, k);
                }
                return sorted;
            case JsonArray a:
                return new JsonArray([.. a.Select(x => Canonical(x, name))]);
            default:
                return node?.DeepClone();
        }
    }

    /// <summary>Runs a call, catching its gRPC error as the outcome.</summary>
    public static async Task<Outcome> CallAsync(string label, Func<Task<IMessage>> call)
    {
        try
        {
            return Of(label, await call());
        }
        catch (RpcException e)
        {
            return Of(label, e);
        }
    }

    public override string ToString() => $"{Label}: {Short(this, whole: true)}";

    /// <summary>Every difference between two servers' outcomes for one operation (empty when they agree).</summary>
    public static List<string> Differences(IReadOnlyList<Outcome> a, IReadOnlyList<Outcome> b, MessageComparer comparer)
    {
        var diffs = new List<string>();
        if (a.Count != b.Count)
            diffs.Add($"{a.Count} steps vs {b.Count}");
        for (var i = 0; i < Math.Min(a.Count, b.Count); i++)
        {
            var (x, y) = (a[i], b[i]);
            if (x.Label != y.Label)
                diffs.Add($"step {i}: {x.Label} vs {y.Label}");
            else if (x.Response is null || y.Response is null)
            {
                if (x.Response is not null || y.Response is not null || x.Code != y.Code || x.Detail != y.Detail)
                    diffs.Add($"{x.Label}: {Short(x)} vs {Short(y)}");
            }
            else
                diffs.AddRange(comparer.Differences(x.Response, y.Response).Select(d => $"{x.Label}: {d}"));
        }
        return diffs;
    }

    private static string Short(Outcome o, bool whole = false) =>
        o.Response is not null ? whole ? MessageText.Of(o.Response) : "a response"
        : o.Code == StatusCode.OK ? o.Detail
        : $"error {o.Code} \"{o.Detail}\"";
}
