using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Raft.Kv.Auth;

/// <summary>Who a token stands for, and the auth revision it was issued at.</summary>
/// <param name="User">The user name.</param>
/// <param name="Revision">The auth revision the caller's permissions were looked at (etcd's AuthInfo.Revision): a request carries it in its entry's header, and is refused at apply when the store has changed since.</param>
public sealed record AuthInfo(string User, ulong Revision);

/// <summary>
/// etcd's simple tokens (server/auth/simple_token.go): 16 random letters, a dot and the Raft index of
/// the Authenticate entry. The member that authenticates draws the token and proposes it; every member
/// assigns it when it applies the entry, so the token works on any member. Tokens live in memory only
/// (a restarted member forgets them, and clients authenticate again), and expire after
/// <see cref="Ttl"/> without use (etcd's --auth-token-ttl, 300 s).
/// </summary>
public sealed class SimpleTokens(TimeProvider? time = null) : IAuthTokens
{
    private const string Letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, (AuthInfo Info, long ExpiresAt)> _tokens = new();

    /// <summary>How long a token lives without being used.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>A new token's random part (the index is appended when the entry is applied).</summary>
    public static string NewRandom() => RandomNumberGenerator.GetString(Letters, 16);

    /// <summary>Assigns <paramref name="token"/> to <paramref name="info"/>.</summary>
    public void Assign(string token, AuthInfo info) => _tokens[token] = (info, Expiry());

    /// <inheritdoc/>
    public string NewPrefix() => NewRandom();

    /// <inheritdoc/>
    public string? Assign(string user, ulong revision, string prefix, ulong index)
    {
        var token = $"{prefix}.{index}";
        Assign(token, new AuthInfo(user, revision));
        return token;
    }

    /// <inheritdoc/>
    public AuthInfo? Info(string token, ulong currentRevision) => Info(token) is { } info ? info with { Revision = currentRevision } : null;

    /// <summary>Who <paramref name="token"/> stands for, or null (unknown or expired); use renews it.</summary>
    public AuthInfo? Info(string token)
    {
        if (!_tokens.TryGetValue(token, out var entry)) return null;
        if (_time.GetTimestamp() > entry.ExpiresAt)
        {
            _tokens.TryRemove(KeyValuePair.Create(token, entry));
            return null;
        }
        _tokens.TryUpdate(token, (entry.Info, Expiry()), entry);
        return entry.Info;
    }

    /// <summary>Forgets every token of <paramref name="user"/> (deleted, or its password changed).</summary>
    public void InvalidateUser(string user)
    {
        foreach (var (token, entry) in _tokens)
        {
            if (entry.Info.User == user) _tokens.TryRemove(token, out _);
        }
    }

    /// <summary>Forgets every token (auth disabled).</summary>
    public void Clear() => _tokens.Clear();

    private long Expiry() => _time.GetTimestamp() + (long)(Ttl.TotalSeconds * _time.TimestampFrequency);
}
