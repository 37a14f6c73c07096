using System.Security.Cryptography;
using System.Text;
using Raft.Kv.Auth;

namespace Raft.Shell.Tests.Kv.Auth;

/// <summary>etcd's JWT tokens: claims, sign methods, verification on a member with the key, and the --auth-token option errors.</summary>
public class JwtTokensTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static byte[] Pem(string text) => Encoding.ASCII.GetBytes(text);

    private static (byte[] Public, byte[] Private) RsaKeys()
    {
        using var rsa = RSA.Create(2048);
        return (Pem(rsa.ExportSubjectPublicKeyInfoPem()), Pem(rsa.ExportRSAPrivateKeyPem()));
    }

    private static (byte[] Public, byte[] Private) EcKeys(ECCurve curve)
    {
        using var ec = ECDsa.Create(curve);
        return (Pem(ec.ExportSubjectPublicKeyInfoPem()), Pem(ec.ExportECPrivateKeyPem()));
    }

    public static TheoryData<string> Methods() => ["RS256", "RS384", "RS512", "PS256", "PS512", "ES256", "ES384", "ES512", "HS256", "HS512"];

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_token_signed_by_one_member_is_verified_by_another_with_the_same_key(string method)
    {
        var (pub, priv) = method[0] switch
        {
            'H' => ((byte[]?)null, RandomNumberGenerator.GetBytes(32)),
            'E' => EcKeys(method switch { "ES256" => ECCurve.NamedCurves.nistP256, "ES384" => ECCurve.NamedCurves.nistP384, _ => ECCurve.NamedCurves.nistP521 }),
            _ => RsaKeys(),
        };
        var signer = new JwtTokens(method, pub, priv, TimeSpan.FromMinutes(5));
        var other = new JwtTokens(method, pub, priv, TimeSpan.FromMinutes(5));
        var token = signer.Assign("alice", 42, "", 7)!;
        Assert.Equal(new AuthInfo("alice", 42), other.Info(token, currentRevision: 50));
        if (pub is not null)
        {
            // A member with the public key only verifies (etcd's verify-only) and cannot sign.
            var verifier = new JwtTokens(method, pub, null, TimeSpan.FromMinutes(5));
            Assert.True(verifier.VerifyOnly);
            Assert.Equal(new AuthInfo("alice", 42), verifier.Info(token, 0));
            Assert.Null(verifier.Assign("alice", 1, "", 1));
        }
    }

    [Fact]
    public void Claims_and_header_are_etcds()
    {
        var (pub, priv) = RsaKeys();
        var time = new Clock { Now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000) };
        var token = new JwtTokens("RS256", pub, priv, TimeSpan.FromSeconds(90), time).Assign("bob", 3, "", 1)!;
        var parts = token.Split('.');
        Assert.Equal("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[0])));
        Assert.Equal("{\"exp\":1700000090,\"revision\":3,\"username\":\"bob\"}", Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1])));
    }

    [Fact]
    public void Expired_forged_tampered_and_other_method_tokens_are_refused()
    {
        var (pub, priv) = RsaKeys();
        var time = new Clock { Now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000) };
        var member = new JwtTokens("RS256", pub, priv, TimeSpan.FromSeconds(10), time);
        var token = member.Assign("alice", 5, "", 1)!;
        Assert.NotNull(member.Info(token, 5));
        time.Now += TimeSpan.FromSeconds(11);
        Assert.Equal("token is expired", member.Verify(token, out _));
        Assert.Null(member.Info(token, 5));

        var (_, otherPriv) = RsaKeys();
        var forged = new JwtTokens("RS256", null, otherPriv, TimeSpan.FromMinutes(5), time).Assign("root", 5, "", 1)!;
        Assert.Equal("signature is invalid", member.Verify(forged, out _));

        var fresh = member.Assign("alice", 5, "", 1)!.Split('.');
        var rootClaims = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes("{\"exp\":1800000000,\"revision\":5,\"username\":\"root\"}"));
        Assert.Equal("signature is invalid", member.Verify($"{fresh[0]}.{rootClaims}.{fresh[2]}", out _));

        // The classic confusion: HS256 with the public key as the secret, and "none".
        var confused = new JwtTokens("HS256", null, pub, TimeSpan.FromMinutes(5), time).Assign("root", 5, "", 1)!;
        Assert.Equal("invalid signing method", member.Verify(confused, out _));
        var none = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes("{\"alg\":\"none\",\"typ\":\"JWT\"}"));
        Assert.Equal("invalid signing method", member.Verify($"{none}.{rootClaims}.", out _));
        Assert.NotNull(member.Verify("abc", out _));
        Assert.NotNull(member.Verify("a.b.c", out _));
    }

    [Fact]
    public void Auth_token_options_are_checked_as_etcd_checks_them()
    {
        var dir = Directory.CreateTempSubdirectory("jwt-opts-");
        try
        {
            var (pub, priv) = RsaKeys();
            var (otherPub, _) = RsaKeys();
            File.WriteAllBytes(Path.Combine(dir.FullName, "pub.pem"), pub);
            File.WriteAllBytes(Path.Combine(dir.FullName, "priv.pem"), priv);
            File.WriteAllBytes(Path.Combine(dir.FullName, "other.pem"), otherPub);
            string F(string name) => Path.Combine(dir.FullName, name);

            Assert.IsType<SimpleTokens>(AuthTokenOptions.Create("simple"));
            var jwt = Assert.IsType<JwtTokens>(AuthTokenOptions.Create($"jwt,pub-key={F("pub.pem")},priv-key={F("priv.pem")},sign-method=RS256,ttl=1h"));
            Assert.Equal(TimeSpan.FromHours(1), jwt.Ttl);
            Assert.Equal(JwtTokens.DefaultTtl, Assert.IsType<JwtTokens>(AuthTokenOptions.Create($"jwt,priv-key={F("priv.pem")},sign-method=RS256")).Ttl);

            string Error(string value) => Assert.Throws<AuthTokenOptionsException>(() => AuthTokenOptions.Create(value)).Message;
            Assert.Equal("auth: invalid auth options", Error("bogus"));
            Assert.Equal("auth: invalid auth options", Error("jwt,sign-method"));
            Assert.Equal("auth: invalid auth options", Error("jwt,sign-method=RS256,sign-method=RS256"));
            Assert.Equal("auth: invalid auth signature method", Error($"jwt,priv-key={F("priv.pem")}"));
            Assert.Equal("auth: invalid auth signature method", Error($"jwt,priv-key={F("priv.pem")},sign-method=XX256"));
            Assert.Equal("auth: missing key data", Error("jwt,sign-method=RS256"));
            Assert.Equal("auth: public and private keys don't match", Error($"jwt,pub-key={F("other.pem")},priv-key={F("priv.pem")},sign-method=RS256"));
            Assert.StartsWith("auth: cannot read priv-key", Error($"jwt,priv-key={F("missing.pem")},sign-method=RS256"));
            Assert.StartsWith("auth: cannot read the private key", Error($"jwt,priv-key={F("pub.pem")},sign-method=ES256"));
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
