namespace Raft.Kv.Auth;

/// <summary>
/// A kind of auth token (etcd's TokenProvider): <see cref="SimpleTokens"/> (<c>--auth-token simple</c>)
/// or <see cref="JwtTokens"/> (<c>--auth-token jwt,...</c>).
/// </summary>
public interface IAuthTokens
{
    /// <summary>
    /// What the member that authenticates puts in the Authenticate entry's <c>simple_token</c>: the
    /// random part of a simple token, or empty (a JWT is signed by each member when it applies the entry).
    /// </summary>
    string NewPrefix();

    /// <summary>
    /// The token of <paramref name="user"/>, authenticated at auth revision <paramref name="revision"/>
    /// by the entry at Raft index <paramref name="index"/> carrying <paramref name="prefix"/>; null
    /// when this member cannot issue tokens (a JWT public key only).
    /// </summary>
    string? Assign(string user, ulong revision, string prefix, ulong index);

    /// <summary>
    /// Who <paramref name="token"/> stands for and at which auth revision, or null (unknown, expired,
    /// forged). <paramref name="currentRevision"/> is the store's: a simple token stands for its user at
    /// the current revision, a JWT at the revision it was signed at (etcd's tokenSimple.info and tokenJWT.info).
    /// </summary>
    AuthInfo? Info(string token, ulong currentRevision);

    /// <summary>Forgets every token of <paramref name="user"/> (deleted, or its password changed); a JWT lives until it expires.</summary>
    void InvalidateUser(string user);

    /// <summary>Forgets every token (auth disabled, or a new auth state installed).</summary>
    void Clear();
}
