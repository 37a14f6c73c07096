using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Raft.Shell.Transport.Tls;

/// <summary>
/// The serial numbers an X.509 certificate revocation list (RFC 5280 CertificateList) names. As
/// etcd's checkCRL, only the serials are used: the list is trusted because the operator put it there.
/// </summary>
internal sealed class RevocationList(HashSet<BigInteger> serials)
{
    public bool IsRevoked(byte[] serialBigEndian) => serials.Contains(new BigInteger(serialBigEndian, isUnsigned: true, isBigEndian: true));

    public int Count => serials.Count;

    /// <exception cref="TlsFileException">The file is missing or is not a CRL (DER or PEM).</exception>
    public static RevocationList Load(string file)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsFileException($"cannot read CRL file {file}: {ex.Message}", ex);
        }
        try
        {
            return new RevocationList(Parse(Der(bytes)));
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException or FormatException)
        {
            throw new TlsFileException($"CRL file {file} is not a certificate revocation list: {ex.Message}", ex);
        }
    }

    private static byte[] Der(byte[] bytes)
    {
        var text = Encoding.ASCII.GetString(bytes);
        if (!text.Contains("-----BEGIN", StringComparison.Ordinal)) return bytes;
        if (!PemEncoding.TryFind(text, out var fields) || text[fields.Label] != "X509 CRL")
            throw new FormatException("no X509 CRL PEM block");
        return Convert.FromBase64String(text[fields.Base64Data]);
    }

    private static HashSet<BigInteger> Parse(byte[] der)
    {
        var serials = new HashSet<BigInteger>();
        var list = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbs = list.ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer)) tbs.ReadInteger(); // version
        tbs.ReadSequence(); // signature algorithm
        tbs.ReadSequence(); // issuer
        SkipTime(tbs); // thisUpdate
        if (tbs.HasData && IsTime(tbs.PeekTag())) SkipTime(tbs); // nextUpdate
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var revoked = tbs.ReadSequence();
            while (revoked.HasData)
            {
                var entry = revoked.ReadSequence();
                serials.Add(BigInteger.Abs(entry.ReadInteger()));
            }
        }
        return serials;
    }

    private static bool IsTime(Asn1Tag tag) =>
        tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime)) || tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.GeneralizedTime));

    private static void SkipTime(AsnReader r)
    {
        if (r.PeekTag().HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime))) r.ReadUtcTime();
        else r.ReadGeneralizedTime();
    }
}
