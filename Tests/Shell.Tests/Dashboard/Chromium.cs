using Microsoft.Playwright;

namespace Raft.Shell.Tests.Dashboard;

/// <summary>
/// Debian's chromium, driven headless by Playwright (whose driver ships in its NuGet package; it
/// cannot download a browser of its own here, so it is pointed at the installed one).
/// <c>RAFT_CHROMIUM</c> names another executable.
/// </summary>
internal static class Chromium
{
    public static string Path =>
        Environment.GetEnvironmentVariable("RAFT_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    /// <summary>Starts the browser; fails the test, saying how to install it, when it is missing.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!File.Exists(Path))
            Assert.Fail($"chromium is not installed at {Path}: the cluster page's browser test needs it (`apt-get install -y chromium`, as .ci/run does; or set RAFT_CHROMIUM)");
        var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Path,
                Headless = true,
                // No GPU in CI containers; root there needs no sandbox (Playwright passes --no-sandbox).
                Args = ["--disable-gpu", "--disable-dev-shm-usage"],
            });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }
}
