using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text;
using Google.Protobuf;
using Raft.Kv.Backend;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Auth;

/// <summary>
/// etcd's auth store (server/auth/store.go): whether auth is on, its revision, the users (bcrypt
/// password hashes, roles) and the roles (key permissions), changed only by Raft entries so every
/// member holds the same, and kept in the backend's Auth bucket so they survive a restart. Requests
/// read it from any thread: each change publishes a new immutable state.
/// </summary>
public sealed class AuthStore
{
    /// <summary>The user and role that may do everything (etcd's "root").</summary>
    public const string Root = "root";

    private static readonly byte[] EnabledKey = "enabled"u8.ToArray();
    private static readonly byte[] RevisionKey = "revision"u8.ToArray();
    private const string UserPrefix = "user/";
    private const string RolePrefix = "role/";

    private sealed record State(bool Enabled, ulong Revision, ImmutableSortedDictionary<string, Pb.User> Users, ImmutableSortedDictionary<string, Pb.Role> Roles)
    {
        public static State Empty { get; } = new(false, 0, ImmutableSortedDictionary.Create<string, Pb.User>(StringComparer.Ordinal), ImmutableSortedDictionary.Create<string, Pb.Role>(StringComparer.Ordinal));

        // Built on first use per user, dropped with the state when anything changes: the copy
        // constructor (which `with` calls) starts a new cache rather than sharing this one.
        public ConcurrentDictionary<string, RangePermissions> Cache { get; } = new(StringComparer.Ordinal);

        private State(State original)
        {
            Enabled = original.Enabled;
            Revision = original.Revision;
            Users = original.Users;
            Roles = original.Roles;
            Cache = new(StringComparer.Ordinal);
        }
    }

    private readonly MvccStore _store;
    private State _state = State.Empty;

    /// <summary>Loads the auth state the backend holds.</summary>
    /// <param name="store">The store whose Auth bucket holds the state.</param>
    /// <param name="bcryptCost">The bcrypt cost of new password hashes (etcd's --bcrypt-cost).</param>
    /// <param name="time">The clock of simple tokens (tests).</param>
    /// <param name="tokens">The kind of token (etcd's --auth-token); simple tokens when null.</param>
    public AuthStore(MvccStore store, int bcryptCost = DefaultBcryptCost, TimeProvider? time = null, IAuthTokens? tokens = null)
    {
        if (bcryptCost is < 4 or > 31) throw new ArgumentOutOfRangeException(nameof(bcryptCost), bcryptCost, "bcrypt's cost is 4 to 31");
        _store = store;
        BcryptCost = bcryptCost;
        Tokens = tokens ?? new SimpleTokens(time);
        _state = Load(store.ReadAux(KvBucket.Auth));
    }

    /// <summary>etcd's default --bcrypt-cost (Go's bcrypt.DefaultCost).</summary>
    public const int DefaultBcryptCost = 10;

    /// <summary>The bcrypt cost of new password hashes.</summary>
    public int BcryptCost { get; }

    /// <summary>This member's tokens (simple or JWT).</summary>
    public IAuthTokens Tokens { get; }

    /// <summary>Who <paramref name="token"/> stands for and at which auth revision, or null (unknown, expired, forged).</summary>
    public AuthInfo? TokenInfo(string token) => Tokens.Info(token, Revision);

    /// <summary>Whether auth is on: requests need a token (or a client certificate) and permissions.</summary>
    public bool Enabled => Volatile.Read(ref _state).Enabled;

    /// <summary>The auth revision: one more at every change of users, roles or the enabled flag.</summary>
    public ulong Revision => Volatile.Read(ref _state).Revision;

    // ---- reads ----

    /// <summary>The user's roles, or null when there is no such user.</summary>
    public IReadOnlyList<string>? UserRoles(string name) =>
        Volatile.Read(ref _state).Users.TryGetValue(name, out var u) ? u.Roles.ToList() : null;

    /// <summary>The user names, sorted.</summary>
    public IReadOnlyList<string> UserNames() => Volatile.Read(ref _state).Users.Keys.ToList();

    /// <summary>The role's permissions in key order, or null when there is no such role.</summary>
    public IReadOnlyList<KeyPermission>? RolePermissions(string name) =>
        Volatile.Read(ref _state).Roles.TryGetValue(name, out var r)
            ? r.KeyPermission.Select(p => new KeyPermission((AuthPermission)p.PermType, p.Key.ToByteArray(), p.RangeEnd.ToByteArray())).ToList()
            : null;

    /// <summary>The role names, sorted.</summary>
    public IReadOnlyList<string> RoleNames() => Volatile.Read(ref _state).Roles.Keys.ToList();

    /// <summary>Whether the user exists and has the root role.</summary>
    public bool IsAdmin(string user) => Volatile.Read(ref _state).Users.TryGetValue(user, out var u) && u.Roles.Contains(Root);

    /// <summary>Whether the user exists and has <paramref name="role"/>.</summary>
    public bool HasRole(string user, string role) => Volatile.Read(ref _state).Users.TryGetValue(user, out var u) && u.Roles.Contains(role);

    /// <summary>
    /// Whether <paramref name="user"/> may <paramref name="permission"/> the key, the range
    /// [key, rangeEnd), or every key from key on (rangeEnd = "\0"): always when auth is off; when it is
    /// on, when the user has the root role or one of its roles grants the whole range.
    /// </summary>
    public bool IsRangePermitted(string user, ReadOnlySpan<byte> key, ReadOnlySpan<byte> rangeEnd, AuthPermission permission)
    {
        var state = Volatile.Read(ref _state);
        if (!state.Enabled) return true;
        if (!state.Users.TryGetValue(user, out var u)) return false;
        if (u.Roles.Contains(Root)) return true;
        var perms = state.Cache.GetOrAdd(user, _ => new RangePermissions(u.Roles
            .Select(r => state.Roles.TryGetValue(r, out var role) ? role : null).OfType<Pb.Role>()
            .SelectMany(r => r.KeyPermission)
            .Select(p => new KeyPermission((AuthPermission)p.PermType, p.Key.ToByteArray(), p.RangeEnd.ToByteArray()))));
        return perms.IsPermitted(key, rangeEnd, permission);
    }

    /// <summary>
    /// etcd's isOpPermitted: null when the caller may <paramref name="permission"/> the range, else
    /// etcd's error: no caller ("user name is empty"), a caller looked at before the last auth change
    /// ("revision of auth store is old": its permissions may have been revoked since), or a denial.
    /// </summary>
    public EtcdError? CheckRange(AuthInfo? caller, ReadOnlySpan<byte> key, ReadOnlySpan<byte> rangeEnd, AuthPermission permission)
    {
        var state = Volatile.Read(ref _state);
        if (!state.Enabled) return null;
        if (caller is null || caller.Revision == 0) return AuthErrors.UserEmpty;
        if (caller.Revision < state.Revision) return AuthErrors.AuthOldRevision;
        return IsRangePermitted(caller.User, key, rangeEnd, permission) ? null : AuthErrors.PermissionDenied;
    }

    /// <summary>etcd's IsAdminPermitted: null when auth is off or the caller has the root role, else etcd's error.</summary>
    public EtcdError? CheckAdmin(AuthInfo? caller)
    {
        var state = Volatile.Read(ref _state);
        if (!state.Enabled) return null;
        if (caller is null || caller.User.Length == 0) return AuthErrors.UserEmpty;
        if (!state.Users.TryGetValue(caller.User, out var u)) return AuthErrors.UserNotFound;
        return u.Roles.Contains(Root) ? null : AuthErrors.PermissionDenied;
    }

    // ---- passwords (outside Raft, on the member that took the request) ----

    /// <summary>A bcrypt hash of <paramref name="password"/> at <see cref="BcryptCost"/>, proposed instead of the password.</summary>
    public string HashPassword(string password) => BCrypt.Net.BCrypt.HashPassword(password, BcryptCost);

    /// <summary>Checks a name and password as etcd's CheckPassword: null when they match.</summary>
    public EtcdError? CheckPassword(string name, string password)
    {
        var state = Volatile.Read(ref _state);
        if (!state.Enabled) return AuthErrors.AuthNotEnabled;
        if (!state.Users.TryGetValue(name, out var u)) return AuthErrors.AuthFailed;
        if (u.Options?.NoPassword == true) return AuthErrors.AuthFailed;
        var hash = u.Password.ToStringUtf8();
        bool ok;
        try
        {
            ok = hash.Length > 0 && BCrypt.Net.BCrypt.Verify(password, hash);
        }
        catch (BCrypt.Net.SaltParseException)
        {
            ok = false;
        }
        return ok ? null : AuthErrors.AuthFailed;
    }

    // ---- changes (the apply loop) ----

    /// <summary>
    /// Applies one auth entry at Raft index <paramref name="index"/>: returns the token (a string) for
    /// an Authenticate, true for any other change, or the <see cref="EtcdError"/> etcd answers (the
    /// state unchanged). Every member answers the same.
    /// </summary>
    internal object Apply(ulong index, Pb.InternalRaftRequest r)
    {
        _store.SetConsistentIndex(index);
        var s = Volatile.Read(ref _state);
        object result = r switch
        {
            { AuthEnable: not null } => Enable(s),
            { AuthDisable: not null } => s.Enabled ? Commit(s with { Enabled = false }, disable: true) : true,
            { Authenticate: { } a } => Authenticate(s, index, a),
            { AuthUserAdd: { } a } => UserAdd(s, a),
            { AuthUserDelete: { } a } => UserDelete(s, a.Name),
            { AuthUserChangePassword: { } a } => ChangePassword(s, a),
            { AuthUserGrantRole: { } a } => GrantRole(s, a.User, a.Role),
            { AuthUserRevokeRole: { } a } => RevokeRole(s, a.Name, a.Role),
            { AuthRoleAdd: { } a } => RoleAdd(s, a.Name),
            { AuthRoleDelete: { } a } => RoleDelete(s, a.Role),
            { AuthRoleGrantPermission: { } a } => GrantPermission(s, a),
            { AuthRoleRevokePermission: { } a } => RevokePermission(s, a),
            _ => throw new ArgumentException("not an auth request", nameof(r)),
        };
        return result;
    }

    /// <summary>Whether <paramref name="r"/> holds one of the auth requests <see cref="Apply"/> takes.</summary>
    internal static bool IsAuthRequest(Pb.InternalRaftRequest r) =>
        r.AuthEnable is not null || r.AuthDisable is not null || r.Authenticate is not null || r.AuthUserAdd is not null
        || r.AuthUserDelete is not null || r.AuthUserChangePassword is not null || r.AuthUserGrantRole is not null
        || r.AuthUserRevokeRole is not null || r.AuthRoleAdd is not null || r.AuthRoleDelete is not null
        || r.AuthRoleGrantPermission is not null || r.AuthRoleRevokePermission is not null;

    private object Enable(State s)
    {
        if (s.Enabled) return true;
        if (!s.Users.TryGetValue(Root, out var root)) return AuthErrors.RootUserNotExist;
        if (!root.Roles.Contains(Root)) return AuthErrors.RootRoleNotExist;
        return Commit(s with { Enabled = true });
    }

    private object Authenticate(State s, ulong index, Pb.InternalAuthenticateRequest a)
    {
        // The password was checked before proposing; the user may have gone since.
        if (!s.Enabled) return AuthErrors.AuthNotEnabled;
        if (!s.Users.TryGetValue(a.Name, out var u) || u.Options?.NoPassword == true) return AuthErrors.AuthFailed;
        return Tokens.Assign(a.Name, s.Revision, a.SimpleToken, index) is { } token ? token : AuthErrors.VerifyOnly;
    }

    private object UserAdd(State s, Pb.AuthUserAddRequest a)
    {
        if (a.Name.Length == 0) return AuthErrors.UserEmpty;
        if (s.Users.ContainsKey(a.Name)) return AuthErrors.UserAlreadyExist;
        var user = new Pb.User { Name = ByteString.CopyFromUtf8(a.Name), Options = a.Options ?? new Pb.UserAddOptions() };
        if (!user.Options.NoPassword) user.Password = ByteString.CopyFromUtf8(a.HashedPassword);
        return Commit(s with { Users = s.Users.SetItem(a.Name, user) });
    }

    private object UserDelete(State s, string name)
    {
        if (s.Enabled && name == Root) return AuthErrors.InvalidAuthMgmt;
        if (!s.Users.ContainsKey(name)) return AuthErrors.UserNotFound;
        Tokens.InvalidateUser(name);
        return Commit(s with { Users = s.Users.Remove(name) });
    }

    private object ChangePassword(State s, Pb.AuthUserChangePasswordRequest a)
    {
        if (!s.Users.TryGetValue(a.Name, out var u)) return AuthErrors.UserNotFound;
        var changed = u.Clone();
        changed.Password = ByteString.CopyFromUtf8(a.HashedPassword);
        Tokens.InvalidateUser(a.Name);
        return Commit(s with { Users = s.Users.SetItem(a.Name, changed) });
    }

    private object GrantRole(State s, string name, string role)
    {
        if (!s.Users.TryGetValue(name, out var u)) return AuthErrors.UserNotFound;
        if (role != Root && !s.Roles.ContainsKey(role)) return AuthErrors.RoleNotFound;
        if (u.Roles.Contains(role)) return true;
        var changed = u.Clone();
        var roles = changed.Roles.Append(role).Order(StringComparer.Ordinal).ToList();
        changed.Roles.Clear();
        changed.Roles.AddRange(roles);
        return Commit(s with { Users = s.Users.SetItem(name, changed) });
    }

    private object RevokeRole(State s, string name, string role)
    {
        if (s.Enabled && name == Root && role == Root) return AuthErrors.InvalidAuthMgmt;
        if (!s.Users.TryGetValue(name, out var u)) return AuthErrors.UserNotFound;
        if (!u.Roles.Contains(role)) return AuthErrors.RoleNotGranted;
        var changed = u.Clone();
        changed.Roles.Remove(role);
        return Commit(s with { Users = s.Users.SetItem(name, changed) });
    }

    private object RoleAdd(State s, string name)
    {
        if (name.Length == 0) return AuthErrors.RoleEmpty;
        if (s.Roles.ContainsKey(name)) return AuthErrors.RoleAlreadyExist;
        return Commit(s with { Roles = s.Roles.SetItem(name, new Pb.Role { Name = ByteString.CopyFromUtf8(name) }) });
    }

    private object RoleDelete(State s, string name)
    {
        if (s.Enabled && name == Root) return AuthErrors.InvalidAuthMgmt;
        if (!s.Roles.ContainsKey(name)) return AuthErrors.RoleNotFound;
        // As etcd: the role is revoked from every user that has it.
        var users = s.Users;
        foreach (var (userName, u) in s.Users)
        {
            if (!u.Roles.Contains(name)) continue;
            var changed = u.Clone();
            changed.Roles.Remove(name);
            users = users.SetItem(userName, changed);
        }
        return Commit(s with { Roles = s.Roles.Remove(name), Users = users });
    }

    private object GrantPermission(State s, Pb.AuthRoleGrantPermissionRequest a)
    {
        if (!s.Roles.TryGetValue(a.Name, out var role)) return AuthErrors.RoleNotFound;
        if (a.Perm is null) return AuthErrors.PermissionNotGiven;
        var changed = role.Clone();
        // One permission per (key, range end): granting again replaces its type; kept in key order.
        var same = changed.KeyPermission.FirstOrDefault(p => p.Key == a.Perm.Key && p.RangeEnd == a.Perm.RangeEnd);
        if (same is not null)
        {
            same.PermType = a.Perm.PermType;
        }
        else
        {
            var perms = changed.KeyPermission.Append(a.Perm.Clone())
                .OrderBy(p => p.Key.ToByteArray(), ByteArrayComparer.Instance).ThenBy(p => p.RangeEnd.ToByteArray(), ByteArrayComparer.Instance).ToList();
            changed.KeyPermission.Clear();
            changed.KeyPermission.AddRange(perms);
        }
        return Commit(s with { Roles = s.Roles.SetItem(a.Name, changed) });
    }

    private object RevokePermission(State s, Pb.AuthRoleRevokePermissionRequest a)
    {
        if (!s.Roles.TryGetValue(a.Role, out var role)) return AuthErrors.RoleNotFound;
        var changed = role.Clone();
        var same = changed.KeyPermission.FirstOrDefault(p => p.Key == a.Key && p.RangeEnd == a.RangeEnd);
        if (same is null) return AuthErrors.PermissionNotGranted;
        changed.KeyPermission.Remove(same);
        return Commit(s with { Roles = s.Roles.SetItem(a.Role, changed) });
    }

    // Publishes the next state (revision + 1) and writes what changed into the entry's batch.
    private bool Commit(State next, bool disable = false)
    {
        var old = Volatile.Read(ref _state);
        next = next with { Revision = old.Revision + 1 };
        Persist(old, next);
        Volatile.Write(ref _state, next);
        if (disable) Tokens.Clear();
        return true;
    }

    private void Persist(State old, State next)
    {
        if (old.Enabled != next.Enabled) _store.PutAux(KvBucket.Auth, EnabledKey, [next.Enabled ? (byte)1 : (byte)0]);
        var revision = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(revision, next.Revision);
        _store.PutAux(KvBucket.Auth, RevisionKey, revision);
        Diff(old.Users, next.Users, UserPrefix);
        Diff(old.Roles, next.Roles, RolePrefix);
    }

    private void Diff<T>(ImmutableSortedDictionary<string, T> old, ImmutableSortedDictionary<string, T> next, string prefix) where T : IMessage
    {
        foreach (var (name, value) in next)
        {
            if (!old.TryGetValue(name, out var before) || !ReferenceEquals(before, value))
                _store.PutAux(KvBucket.Auth, Encoding.UTF8.GetBytes(prefix + name), value.ToByteArray());
        }
        foreach (var name in old.Keys)
        {
            if (!next.ContainsKey(name)) _store.DeleteAux(KvBucket.Auth, Encoding.UTF8.GetBytes(prefix + name));
        }
    }

    private static State Load(IEnumerable<KeyValuePair<byte[], byte[]>> pairs)
    {
        var s = State.Empty;
        foreach (var (keyBytes, value) in pairs)
        {
            var key = Encoding.UTF8.GetString(keyBytes);
            if (key == "enabled") s = s with { Enabled = value is [1] };
            else if (key == "revision" && value.Length == 8) s = s with { Revision = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(value) };
            else if (key.StartsWith(UserPrefix, StringComparison.Ordinal)) s = s with { Users = s.Users.SetItem(key[UserPrefix.Length..], Pb.User.Parser.ParseFrom(value)) };
            else if (key.StartsWith(RolePrefix, StringComparison.Ordinal)) s = s with { Roles = s.Roles.SetItem(key[RolePrefix.Length..], Pb.Role.Parser.ParseFrom(value)) };
        }
        return s;
    }

    // ---- snapshots ----

    /// <summary>The auth state as the snapshot carries it: the Auth bucket's pairs (empty when auth was never used).</summary>
    public byte[] Export()
    {
        // From the published state, not the bucket: the entry's batch may not be committed yet.
        var s = Volatile.Read(ref _state);
        if (s.Revision == 0) return [];
        var snapshot = new Pb.KvSnapshot();
        void Add(string key, byte[] value) => snapshot.Kvs.Add(new Pb.KeyValue { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFrom(value) });
        Add("enabled", [s.Enabled ? (byte)1 : (byte)0]);
        var revision = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(revision, s.Revision);
        Add("revision", revision);
        foreach (var (name, u) in s.Users) Add(UserPrefix + name, u.ToByteArray());
        foreach (var (name, r) in s.Roles) Add(RolePrefix + name, r.ToByteArray());
        return snapshot.ToByteArray();
    }

    /// <summary>Replaces the auth state by one <see cref="Export"/> made (on a member restored from a snapshot).</summary>
    /// <exception cref="InvalidDataException">The bytes are not an exported auth state.</exception>
    public void Import(ReadOnlySpan<byte> exported)
    {
        List<KeyValuePair<byte[], byte[]>> pairs;
        State next;
        try
        {
            pairs = Pb.KvSnapshot.Parser.ParseFrom(exported).Kvs.Select(kv => KeyValuePair.Create(kv.Key.ToByteArray(), kv.Value.ToByteArray())).ToList();
            next = Load(pairs);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException($"auth state in the snapshot: {ex.Message}", ex);
        }
        var keep = pairs.Select(p => Convert.ToHexString(p.Key)).ToHashSet();
        foreach (var (key, _) in _store.ReadAux(KvBucket.Auth))
        {
            if (!keep.Contains(Convert.ToHexString(key))) _store.DeleteAux(KvBucket.Auth, key);
        }
        foreach (var (key, value) in pairs) _store.PutAux(KvBucket.Auth, key, value);
        _store.Commit();
        Tokens.Clear();
        Volatile.Write(ref _state, next);
    }

    private sealed class ByteArrayComparer : IComparer<byte[]>
    {
        public static ByteArrayComparer Instance { get; } = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
