using Microsoft.Extensions.Logging;

namespace Raft.Cli;

/// <summary>
/// Log lines on standard error, one per event: time, level, optional member prefix, category and
/// message (and the exception, if any). Writes are serialized so members' lines never interleave.
/// </summary>
public sealed class ConsoleLineLoggerProvider(string? prefix) : ILoggerProvider
{
    private static readonly object Gate = new();

    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) => new Logger(prefix, categoryName);

    /// <inheritdoc/>
    public void Dispose() { }

    private sealed class Logger(string? prefix, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {level} {(prefix is null ? "" : $"[{prefix}] ")}{category}: {formatter(state, exception)}";
            lock (Gate)
            {
                Console.Error.WriteLine(line);
                if (exception is not null)
                    Console.Error.WriteLine(exception);
            }
        }
    }
}
