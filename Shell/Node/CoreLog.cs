using Microsoft.Extensions.Logging;

namespace Raft.Shell.Node;

/// <summary>Hands Core's log lines (etcd raft's logger output, returned as data) to an ILogger.</summary>
internal static class CoreLog
{
    public static LogLevel Level(Raft.Core.LogLevel level) =>
        level.Tag switch
        {
            Raft.Core.LogLevel.Tags.Debug => LogLevel.Debug,
            Raft.Core.LogLevel.Tags.Info => LogLevel.Information,
            Raft.Core.LogLevel.Tags.Warn => LogLevel.Warning,
            Raft.Core.LogLevel.Tags.Error => LogLevel.Error,
            _ => LogLevel.Critical,
        };

    public static void Write(ILogger logger, Microsoft.FSharp.Collections.FSharpList<Raft.Core.LogLine> lines)
    {
        foreach (var line in lines)
        {
            var level = Level(line.Level);
            if (logger.IsEnabled(level))
                logger.Log(level, "raft: {Line}", line.Text);
        }
    }
}
