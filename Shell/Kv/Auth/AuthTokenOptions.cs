namespace Raft.Kv.Auth;

/// <summary>
/// etcd's <c>--auth-token</c> (auth.NewTokenProvider): <c>simple</c> (the default) or
/// <c>jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256,ttl=5m</c>.
/// </summary>
public static class AuthTokenOptions
{
    /// <summary>etcd's default.</summary>
    public const string Simple = "simple";

    /// <summary>The token kind <paramref name="value"/> names, with the key files read.</summary>
    /// <param name="value">The flag's value.</param>
    /// <param name="simpleTtl">A simple token's lifetime without use (etcd's --auth-token-ttl).</param>
    /// <param name="time">The clock (tests).</param>
    /// <exception cref="AuthTokenOptionsException">etcd's errors: invalid auth options (a malformed or repeated option, an unknown kind), invalid signature method, missing key data, keys that do not match, a key file that cannot be read.</exception>
    public static IAuthTokens Create(string value, TimeSpan? simpleTtl = null, TimeProvider? time = null)
    {
        var parts = value.Split(',');
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in parts.Skip(1))
        {
            var pair = part.Split('=');
            if (pair.Length != 2 || !options.TryAdd(pair[0], pair[1])) throw new AuthTokenOptionsException("auth: invalid auth options");
        }
        switch (parts[0])
        {
            case Simple:
                return new SimpleTokens(time) { Ttl = simpleTtl ?? TimeSpan.FromSeconds(300) };
            case "jwt":
                var ttl = JwtTokens.DefaultTtl;
                if (options.TryGetValue("ttl", out var ttlText) && ttlText.Length > 0)
                {
                    try
                    {
                        ttl = Compaction.AutoCompactor.ParseDuration(ttlText);
                    }
                    catch (FormatException ex)
                    {
                        throw new AuthTokenOptionsException($"auth: invalid auth options: ttl: {ex.Message}");
                    }
                }
                return new JwtTokens(options.GetValueOrDefault("sign-method", ""), ReadKey(options, "pub-key"), ReadKey(options, "priv-key"), ttl, time);
            default:
                throw new AuthTokenOptionsException("auth: invalid auth options");
        }
    }

    private static byte[]? ReadKey(Dictionary<string, string> options, string name)
    {
        if (!options.TryGetValue(name, out var file) || file.Length == 0) return null;
        try
        {
            return File.ReadAllBytes(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AuthTokenOptionsException($"auth: cannot read {name} {file}: {ex.Message}");
        }
    }
}
