using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

// etcd's services that are not built yet (Lease): mapped so
// that every etcd method path exists and answers Unimplemented, which the generated bases do.

/// <summary>etcdserverpb.Lease: not served yet (every call answers Unimplemented).</summary>
internal sealed class LeaseGrpcService : Pb.Lease.LeaseBase;
