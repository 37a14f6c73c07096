using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

/// <summary>How a request ended, as far as the client can tell.</summary>
internal enum Delivery
{
    /// <summary>The member answered (any status).</summary>
    Answered,
    /// <summary>The connection was refused: the request never reached a member, it cannot have had an effect.</summary>
    NotSent,
    /// <summary>Timed out or the connection broke: the request may have taken effect, or not.</summary>
    Unknown,
}

/// <summary>
/// One chaos client's HTTP connection pool to the gateway of every member, with a short timeout so
/// that a request to a paused or cut-off member ends as <see cref="Delivery.Unknown"/> quickly.
/// </summary>
internal sealed class ChaosClient : IDisposable
{
    private readonly HttpClient _http;

    public ChaosClient(TimeSpan timeout)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2),
        })
        { Timeout = timeout };
    }

    public async Task<(Delivery Delivery, Reply? Reply)> PostAsync(string baseUrl, string path, string body)
    {
        try
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await _http.PostAsync(baseUrl + path, content);
            return (Delivery.Answered, new Reply((int)response.StatusCode, await response.Content.ReadAsStringAsync()));
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            return (Delivery.NotSent, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException or TaskCanceledException)
        {
            return (Delivery.Unknown, null);
        }
    }

    public Task<(Delivery, Reply?)> PutAsync(string baseUrl, string key, string value) =>
        PostAsync(baseUrl, "/v3/kv/put", $"{{\"key\":\"{GatewayClient.B64(key)}\",\"value\":\"{GatewayClient.B64(value)}\"}}");

    public Task<(Delivery, Reply?)> DeleteAsync(string baseUrl, string key) =>
        PostAsync(baseUrl, "/v3/kv/deleterange", $"{{\"key\":\"{GatewayClient.B64(key)}\"}}");

    public Task<(Delivery, Reply?)> GetAsync(string baseUrl, string key, bool serializable) =>
        PostAsync(baseUrl, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64(key)}\"{(serializable ? ",\"serializable\":true" : "")}}}");

    /// <summary>The <c>header.revision</c> of an answer, when it has one.</summary>
    public static long? Revision(Reply reply)
    {
        try
        {
            var j = reply.Json;
            return j.TryGetProperty("header", out var h) && h.TryGetProperty("revision", out _) ? (long)GatewayClient.U64(h, "revision") : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}
