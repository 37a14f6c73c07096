using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Raft.Shell.Node.Membership;

/// <summary>
/// How etcd derives ids (server/etcdserver/api/membership): a member id is the first 8 bytes
/// (big-endian) of SHA-1 over its sorted peer URLs, the cluster token and, for a member added at
/// runtime, the Unix time; a cluster id is the same over its initial member ids in order.
/// </summary>
internal static class MemberIds
{
    /// <summary>The default <c>--initial-cluster-token</c>.</summary>
    public const string DefaultClusterToken = "etcd-cluster";

    /// <summary>etcd's computeMemberId. <paramref name="sortedPeerUrls"/> must be sorted.</summary>
    public static ulong ComputeMemberId(IEnumerable<string> sortedPeerUrls, string clusterToken, DateTimeOffset? now = null)
    {
        var sb = new StringBuilder();
        foreach (var u in sortedPeerUrls)
            sb.Append(u);
        sb.Append(clusterToken);
        if (now is { } t)
            sb.Append(t.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        return First8(SHA1.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    /// <summary>etcd's RaftCluster.genID over the member ids (sorted here, as etcd sorts them).</summary>
    public static ulong ComputeClusterId(IEnumerable<ulong> memberIds)
    {
        var ids = memberIds.Order().ToArray();
        var b = new byte[8 * ids.Length];
        for (var i = 0; i < ids.Length; i++)
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8 * i), ids[i]);
        return First8(SHA1.HashData(b));
    }

    /// <summary>An id as etcd prints it (types.ID.String: lower-case hex, no padding).</summary>
    public static string Format(ulong id) => id.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Parses an id printed by <see cref="Format"/>.</summary>
    public static bool TryParse(string text, out ulong id) =>
        ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id);

    private static ulong First8(byte[] hash) => BinaryPrimitives.ReadUInt64BigEndian(hash);
}
