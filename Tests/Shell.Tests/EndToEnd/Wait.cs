namespace Raft.Shell.Tests.EndToEnd;

/// <summary>Waiting on conditions, never on fixed sleeps: poll until true or a generous deadline.</summary>
internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test naming <paramref name="what"/> when time runs out.</summary>
    public static async Task UntilAsync(string what, TimeSpan timeout, Func<Task<bool>> condition, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}{(diagnostics is null ? "" : "\n" + diagnostics())}");
            await Task.Delay(50);
        }
    }

    /// <summary>Polls until <paramref name="attempt"/> gives a value; fails the test when time runs out.</summary>
    public static async Task<T> ForAsync<T>(string what, TimeSpan timeout, Func<Task<T?>> attempt, Func<string>? diagnostics = null) where T : class
    {
        T? value = null;
        await UntilAsync(what, timeout, async () => (value = await attempt()) is not null, diagnostics);
        return value!;
    }
}
