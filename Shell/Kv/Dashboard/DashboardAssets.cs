using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Raft.Kv.Dashboard;

/// <summary>
/// The page's HTML, script and style sheet, embedded in this assembly and served by the member
/// itself: the page works on a machine with no internet access, and every member serves the same
/// page as the binary it runs.
/// </summary>
internal static class DashboardAssets
{
    private static readonly FrozenDictionary<string, Asset> Files = new Dictionary<string, Asset>
    {
        ["index.html"] = Load("index.html", "text/html; charset=utf-8"),
        ["app.js"] = Load("app.js", "text/javascript; charset=utf-8"),
        ["app.css"] = Load("app.css", "text/css; charset=utf-8"),
        ["favicon.svg"] = Load("favicon.svg", "image/svg+xml"),
    }.ToFrozenDictionary();

    private static Asset Load(string name, string contentType)
    {
        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream("Raft.Kv.Dashboard." + name)
            ?? throw new InvalidOperationException($"the dashboard asset {name} is not embedded in {typeof(DashboardAssets).Assembly.GetName().Name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var bytes = copy.ToArray();
        return new Asset(bytes, contentType, "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 8)) + "\"");
    }

    /// <summary>Serves <paramref name="name"/>, or 404; a matching If-None-Match gets 304.</summary>
    public static Task ServeAsync(HttpContext http, string name)
    {
        if (!Files.TryGetValue(name, out var asset))
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }
        // Revalidated on every load: an upgraded member serves its new page at once.
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers.ETag = asset.ETag;
        http.Response.Headers.XContentTypeOptions = "nosniff";
        if (http.Request.Headers.IfNoneMatch == asset.ETag)
        {
            http.Response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }
        http.Response.ContentType = asset.ContentType;
        http.Response.ContentLength = asset.Bytes.Length;
        return http.Response.Body.WriteAsync(asset.Bytes, http.RequestAborted).AsTask();
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}
