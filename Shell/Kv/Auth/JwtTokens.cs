using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Raft.Kv.Auth;

/// <summary>
/// etcd's JWT tokens (server/auth/jwt.go, <c>--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...</c>):
/// a signed JSON Web Token with the claims <c>username</c>, <c>revision</c> (the auth revision at
/// Authenticate) and <c>exp</c> (Unix seconds). Each member signs when it applies the Authenticate
/// entry and verifies every token with the key alone, so a token from one member works on every
/// member configured with the same key, and nothing is kept in memory.
/// </summary>
/// <remarks>
/// Sign methods are jwt-go's: RS256/384/512 and PS256/384/512 (an RSA key), ES256/384/512 (an EC key
/// of P-256/384/521), HS256/384/512 (the priv-key file's bytes are the secret). With a public key only
/// a member verifies tokens but cannot issue them (etcd's verify-only mode).
/// </remarks>
public sealed class JwtTokens : IAuthTokens
{
    private readonly string _method;
    private readonly HashAlgorithmName _hash;
    private readonly RSA? _rsa;
    private readonly ECDsa? _ec;
    private readonly byte[]? _secret;
    private readonly TimeProvider _time;

    /// <summary>etcd's default token lifetime (DefaultTTL).</summary>
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(5);

    /// <summary>The sign methods jwt-go knows, as etcd's sign-method option names them.</summary>
    public static IReadOnlyList<string> SignMethods { get; } =
        ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512"];

    /// <summary>A token lifetime.</summary>
    public TimeSpan Ttl { get; }

    /// <summary>Whether this member only verifies tokens (a public key without the private key).</summary>
    public bool VerifyOnly { get; }

    /// <summary>The sign method (alg), such as RS256.</summary>
    public string SignMethod => _method;

    /// <summary>
    /// Keys from PEM text (RSA or EC; PKCS#1, SEC1, PKCS#8 or SubjectPublicKeyInfo) or, for HS*, the
    /// secret's bytes in <paramref name="privateKey"/>.
    /// </summary>
    /// <exception cref="AuthTokenOptionsException">etcd's option errors: unknown sign method, missing key data, keys that do not match, a key that does not parse.</exception>
    public JwtTokens(string signMethod, byte[]? publicKey, byte[]? privateKey, TimeSpan ttl, TimeProvider? time = null)
    {
        if (!SignMethods.Contains(signMethod)) throw new AuthTokenOptionsException("auth: invalid auth signature method");
        _method = signMethod;
        _hash = signMethod[2..] switch
        {
            "256" => HashAlgorithmName.SHA256,
            "384" => HashAlgorithmName.SHA384,
            _ => HashAlgorithmName.SHA512,
        };
        Ttl = ttl;
        _time = time ?? TimeProvider.System;
        var havePrivate = privateKey is { Length: > 0 };
        var havePublic = publicKey is { Length: > 0 };
        if (!havePrivate && !havePublic) throw new AuthTokenOptionsException("auth: missing key data");
        try
        {
            switch (signMethod[0])
            {
                case 'H':
                    if (!havePrivate) throw new AuthTokenOptionsException("auth: missing key data");
                    _secret = privateKey;
                    break;
                case 'E':
                    _ec = ECDsa.Create();
                    _ec.ImportFromPem(Encoding.ASCII.GetString(havePrivate ? privateKey! : publicKey!));
                    if (havePrivate && havePublic && !SamePublicKey(_ec, publicKey!, isEc: true)) throw new AuthTokenOptionsException("auth: public and private keys don't match");
                    break;
                default:
                    _rsa = RSA.Create();
                    _rsa.ImportFromPem(Encoding.ASCII.GetString(havePrivate ? privateKey! : publicKey!));
                    if (havePrivate && havePublic && !SamePublicKey(_rsa, publicKey!, isEc: false)) throw new AuthTokenOptionsException("auth: public and private keys don't match");
                    break;
            }
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            throw new AuthTokenOptionsException($"auth: cannot read the {(havePrivate ? "private" : "public")} key: {ex.Message}");
        }
        VerifyOnly = !havePrivate;
    }

    private static bool SamePublicKey(AsymmetricAlgorithm key, byte[] publicPem, bool isEc)
    {
        using AsymmetricAlgorithm other = isEc ? ECDsa.Create() : RSA.Create();
        other.ImportFromPem(Encoding.ASCII.GetString(publicPem));
        return key.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(other.ExportSubjectPublicKeyInfo());
    }

    /// <inheritdoc/>
    public string NewPrefix() => "";

    /// <inheritdoc/>
    public string? Assign(string user, ulong revision, string prefix, ulong index) =>
        VerifyOnly ? null : Sign(user, revision, _time.GetUtcNow().Add(Ttl).ToUnixTimeSeconds());

    /// <summary>A token for <paramref name="user"/> at <paramref name="revision"/> that expires at Unix second <paramref name="expires"/>.</summary>
    public string Sign(string user, ulong revision, long expires)
    {
        if (VerifyOnly) throw new InvalidOperationException("auth: token signing attempted with verify-only key");
        // jwt-go marshals its header and MapClaims with Go's encoding/json: keys in sorted order.
        var header = Encode64(JsonSerializer.SerializeToUtf8Bytes(new SortedDictionary<string, string>(StringComparer.Ordinal) { ["alg"] = _method, ["typ"] = "JWT" }));
        using var claims = new MemoryStream();
        using (var w = new Utf8JsonWriter(claims))
        {
            w.WriteStartObject();
            w.WriteNumber("exp", expires);
            w.WriteNumber("revision", revision);
            w.WriteString("username", user);
            w.WriteEndObject();
        }
        var signingInput = header + "." + Encode64(claims.ToArray());
        return signingInput + "." + Encode64(SignBytes(Encoding.ASCII.GetBytes(signingInput)));
    }

    private byte[] SignBytes(byte[] input) => _method[0] switch
    {
        'H' => Hmac(input),
        'E' => _ec!.SignData(input, _hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
        'P' => _rsa!.SignData(input, _hash, RSASignaturePadding.Pss),
        _ => _rsa!.SignData(input, _hash, RSASignaturePadding.Pkcs1),
    };

    private byte[] Hmac(byte[] input) => _hash.Name switch
    {
        "SHA256" => HMACSHA256.HashData(_secret!, input),
        "SHA384" => HMACSHA384.HashData(_secret!, input),
        _ => HMACSHA512.HashData(_secret!, input),
    };

    private bool VerifyBytes(byte[] input, byte[] signature) => _method[0] switch
    {
        'H' => CryptographicOperations.FixedTimeEquals(Hmac(input), signature),
        'E' => _ec!.VerifyData(input, signature, _hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
        'P' => _rsa!.VerifyData(input, signature, _hash, RSASignaturePadding.Pss),
        _ => _rsa!.VerifyData(input, signature, _hash, RSASignaturePadding.Pkcs1),
    };

    /// <inheritdoc/>
    public AuthInfo? Info(string token, ulong currentRevision) => Verify(token, out var info) is null ? info : null;

    /// <summary>Null when <paramref name="token"/> is valid (then <paramref name="info"/> is its user and revision), else why not.</summary>
    public string? Verify(string token, out AuthInfo? info)
    {
        info = null;
        var parts = token.Split('.');
        if (parts.Length != 3) return "token contains an invalid number of segments";
        byte[] headerBytes, claimBytes, signature;
        try
        {
            headerBytes = Base64Url.DecodeFromChars(parts[0]);
            claimBytes = Base64Url.DecodeFromChars(parts[1]);
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException)
        {
            return "illegal base64 data";
        }
        try
        {
            using var header = JsonDocument.Parse(headerBytes);
            if (header.RootElement.ValueKind != JsonValueKind.Object
                || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String || alg.GetString() != _method)
                return "invalid signing method";
            if (!VerifyBytes(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature)) return "signature is invalid";
            using var claims = JsonDocument.Parse(claimBytes);
            var root = claims.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return "claims are not an object";
            // jwt-go's MapClaims.Valid: exp optional; expired when now > exp.
            if (root.TryGetProperty("exp", out var exp))
            {
                if (exp.ValueKind != JsonValueKind.Number) return "exp is not a number";
                if (_time.GetUtcNow().ToUnixTimeSeconds() > exp.GetDouble()) return "token is expired";
            }
            if (!root.TryGetProperty("username", out var user) || user.ValueKind != JsonValueKind.String) return "no username claim";
            if (!root.TryGetProperty("revision", out var revision) || revision.ValueKind != JsonValueKind.Number || revision.GetDouble() < 0) return "no revision claim";
            info = new AuthInfo(user.GetString()!, (ulong)revision.GetDouble());
            return null;
        }
        catch (JsonException)
        {
            return "malformed JSON";
        }
        catch (CryptographicException)
        {
            return "signature is invalid";
        }
    }

    /// <inheritdoc/>
    public void InvalidateUser(string user)
    {
        // As etcd: a JWT cannot be taken back; it ends at its expiry, or when the auth revision passes it.
    }

    /// <inheritdoc/>
    public void Clear()
    {
    }

    private static string Encode64(byte[] bytes) => Base64Url.EncodeToString(bytes);
}
