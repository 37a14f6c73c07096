using System.Text.Json;
using Raft.Interop;

namespace Raft.Kv.Dashboard;

/// <summary>
/// <c>GET /dashboard/api/cluster</c>: this member's report and every other member's, fetched from
/// their client URLs with a short timeout, so the page learns the whole cluster from the one member
/// that served it, and a member that does not answer shows as down rather than stalling the page.
/// </summary>
internal sealed class PeerReports(HttpClient http, TimeSpan timeout) : IDisposable
{
    /// <summary>Fetches one member's report; the error when it does not answer in time.</summary>
    public async Task<(string? Json, string? Error, double Milliseconds)> FetchAsync(Member member, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        string? lastError = "no client URL";
        foreach (var url in member.ClientUrls)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(timeout);
            try
            {
                using var response = await http.GetAsync(url.TrimEnd('/') + RaftDashboard.SelfPath, cts.Token);
                if (!response.IsSuccessStatusCode)
                {
                    lastError = $"{url} answered {(int)response.StatusCode}";
                    continue;
                }
                var body = await response.Content.ReadAsStringAsync(cts.Token);
                using (JsonDocument.Parse(body))
                {
                    // Only checked: the page gets the member's own text.
                }
                return (body, null, Elapsed(started));
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                lastError = $"{url}: no answer within {timeout.TotalMilliseconds:0} ms";
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException)
            {
                lastError = $"{url}: {ex.Message}";
            }
        }
        return (null, lastError, Elapsed(started));
    }

    private static double Elapsed(long started) => System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    /// <summary>Writes the cluster report: the members this one knows, each with its own report or the reason it has none.</summary>
    public async Task<Action<Utf8JsonWriter>> CollectAsync(IRaftNode node, Action<Utf8JsonWriter> writeSelf, CancellationToken ct)
    {
        var members = node.Members.OrderBy(m => m.Id).ToArray();
        var self = node.MemberId;
        var fetches = members.Select(m => m.Id == self ? Task.FromResult<(string?, string?, double)>((null, null, 0)) : FetchAsync(m, ct)).ToArray();
        var results = await Task.WhenAll(fetches);
        return w =>
        {
            w.WriteStartObject();
            w.WriteString("served_by"u8, SelfReport.Hex(self));
            w.WriteStartArray("members"u8);
            for (var i = 0; i < members.Length; i++)
            {
                var m = members[i];
                var (json, error, ms) = results[i];
                w.WriteStartObject();
                w.WriteString("id"u8, SelfReport.Hex(m.Id));
                w.WriteString("name"u8, m.Name);
                w.WriteStartArray("client_urls"u8);
                foreach (var u in m.ClientUrls)
                    w.WriteStringValue(u);
                w.WriteEndArray();
                w.WriteBoolean("is_learner"u8, m.IsLearner);
                var answered = m.Id == self || json is not null;
                w.WriteBoolean("answered"u8, answered);
                w.WriteNumber("fetch_ms"u8, Math.Round(ms, 1));
                if (error is not null)
                    w.WriteString("error"u8, error);
                w.WritePropertyName("report"u8);
                if (m.Id == self)
                    writeSelf(w);
                else if (json is not null)
                    w.WriteRawValue(json, skipInputValidation: true);
                else
                    w.WriteNullValue();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        };
    }

    public void Dispose() => http.Dispose();
}
