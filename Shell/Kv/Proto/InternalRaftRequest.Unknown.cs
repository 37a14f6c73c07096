namespace Raft.Kv.Proto;

/// <summary>What the generated message keeps of fields its .proto does not declare.</summary>
internal sealed partial class InternalRaftRequest
{
    /// <summary>
    /// Whether the parsed bytes held a field other than the request id, header, put and
    /// delete-range: another etcd request type, which this store does not apply.
    /// </summary>
    internal bool HasUnknownFields => _unknownFields is not null;
}
