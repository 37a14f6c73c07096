using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

// etcd's services that need the MVCC store (Watch) or that are not built yet (Auth): mapped so
// that every etcd method path exists and answers Unimplemented, which the generated bases do.

/// <summary>etcdserverpb.Watch: not served yet (every call answers Unimplemented).</summary>
internal sealed class WatchGrpcService : Pb.Watch.WatchBase;

/// <summary>etcdserverpb.Auth: not served yet (every call answers Unimplemented).</summary>
internal sealed class AuthGrpcService : Pb.Auth.AuthBase;
