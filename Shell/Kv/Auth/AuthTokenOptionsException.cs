namespace Raft.Kv.Auth;

/// <summary>An <c>--auth-token</c> value etcd would refuse, with etcd's reason.</summary>
public sealed class AuthTokenOptionsException(string message) : Exception(message);
