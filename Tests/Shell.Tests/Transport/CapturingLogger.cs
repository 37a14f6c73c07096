using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Raft.Shell.Tests.Transport;

/// <summary>An ILogger that keeps every line, so tests can assert what was logged.</summary>
internal sealed class CapturingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, string Text)> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue((logLevel, formatter(state, exception)));

    public bool Has(LogLevel level, string fragment) => Lines.Any(l => l.Level == level && l.Text.Contains(fragment, StringComparison.Ordinal));

    /// <summary>Waits until a line at <paramref name="level"/> containing <paramref name="fragment"/> appears.</summary>
    public async Task<string> WaitForAsync(LogLevel level, string fragment, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (true)
        {
            var hit = Lines.FirstOrDefault(l => l.Level == level && l.Text.Contains(fragment, StringComparison.Ordinal));
            if (hit.Text is not null) return hit.Text;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no {level} line containing \"{fragment}\"; got:\n{string.Join("\n", Lines.Select(l => $"{l.Level}: {l.Text}"))}");
            await Task.Delay(10);
        }
    }
}
