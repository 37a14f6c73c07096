using Microsoft.Extensions.Logging;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// Appends every log line of a member to one file: NodeCluster.StartWithAsync uses it when
/// RAFT_DEBUG_LOG names a file, to read what the members did in a failing run.
/// </summary>
internal sealed class DebugFileLogger(string path, string name) : ILoggerProvider, ILogger
{
    private static readonly object Gate = new();
    public ILogger CreateLogger(string categoryName) => this;
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Gate) File.AppendAllText(path, $"{DateTime.UtcNow:HH:mm:ss.fff} {name} {logLevel} {formatter(state, exception)} {exception}\n");
    }
}
