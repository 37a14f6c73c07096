using Microsoft.Extensions.Logging;

namespace Raft.Kv.Auth;

/// <summary>The auth log lines: user names only, never a password or a token.</summary>
internal static partial class AuthLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning, Message = "authentication failed for user {User}")]
    public static partial void LogAuthFailure(this ILogger logger, string user);
}
