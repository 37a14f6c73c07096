using System.Net.Http;
using System.Text;

namespace Raft.Shell.Tests.Chaos;

/// <summary>A client of <c>raft serve</c>'s failpoint endpoint (<c>RAFT_FAILPOINTS_HTTP=1</c>).</summary>
internal static class FailpointHttp
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>The status code of the request; null when the member did not answer.</summary>
    public static async Task<int?> SendAsync(string baseUrl, HttpMethod method, string name, string body = "")
    {
        try
        {
            using var request = new HttpRequestMessage(method, $"{baseUrl}/debug/failpoints/{name}")
            {
                Content = new StringContent(body, Encoding.UTF8, "text/plain"),
            };
            using var response = await Http.SendAsync(request);
            return (int)response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
        {
            return null;
        }
    }

    public static Task<int?> ArmAsync(string baseUrl, string name, string action) => SendAsync(baseUrl, HttpMethod.Put, name, action);

    public static Task<int?> DisarmAsync(string baseUrl, string name) => SendAsync(baseUrl, HttpMethod.Delete, name);

    /// <summary>Every failpoint's action (<c>off</c> when disarmed) and hit count; null when the list is not served.</summary>
    public static async Task<Dictionary<string, (string Action, int Hits)>?> ListAsync(string baseUrl)
    {
        try
        {
            using var response = await Http.GetAsync($"{baseUrl}/debug/failpoints");
            if (!response.IsSuccessStatusCode)
                return null;
            var list = new Dictionary<string, (string, int)>(StringComparer.Ordinal);
            foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                // name=action hits=N
                var eq = line.IndexOf('=');
                var sp = line.LastIndexOf(" hits=", StringComparison.Ordinal);
                list[line[..eq]] = (line[(eq + 1)..sp], int.Parse(line[(sp + 6)..], System.Globalization.CultureInfo.InvariantCulture));
            }
            return list;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
        {
            return null;
        }
    }
}
