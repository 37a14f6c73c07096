using System.Text;
using Google.Protobuf;
using Raft.Kv;
using Raft.Kv.Auth;
using Raft.Kv.Http;
using KvPb = Raft.Kv.Proto;

namespace Raft.Shell.Tests.Kv.Auth;

/// <summary>The auth store through the state machine's apply path (the Raft entries etcd writes), and its range permissions.</summary>
public class AuthStoreTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static long _index;

    internal static object? Apply(KvStateMachine sm, KvPb.InternalRaftRequest r) => ApplyBytes(sm, r.ToByteArray());

    // Indexes only grow, across the tests that share this counter and run in parallel.
    internal static object? ApplyBytes(KvStateMachine sm, byte[] command) => sm.Apply((ulong)Interlocked.Increment(ref _index), command);

    internal static void Ok(KvStateMachine sm, KvPb.InternalRaftRequest r) => Assert.Equal(true, Apply(sm, r));

    internal static KvPb.InternalRaftRequest UserAdd(KvStateMachine sm, string name, string password) =>
        new() { AuthUserAdd = new KvPb.AuthUserAddRequest { Name = name, HashedPassword = sm.Auth.HashPassword(password) } };

    internal static KvPb.InternalRaftRequest Grant(string role, string key, string end, KvPb.Permission.Types.Type type) =>
        new() { AuthRoleGrantPermission = new KvPb.AuthRoleGrantPermissionRequest { Name = role, Perm = new KvPb.Permission { PermType = type, Key = ByteString.CopyFromUtf8(key), RangeEnd = ByteString.CopyFromUtf8(end) } } };

    internal static KvStateMachine WithRootAndAlice()
    {
        var sm = new KvStateMachine(bcryptCost: 4);
        Ok(sm, UserAdd(sm, "root", "rootpw"));
        Ok(sm, new() { AuthRoleAdd = new() { Name = "root" } });
        Ok(sm, new() { AuthUserGrantRole = new() { User = "root", Role = "root" } });
        Ok(sm, UserAdd(sm, "alice", "alicepw"));
        Ok(sm, new() { AuthRoleAdd = new() { Name = "foo" } });
        Ok(sm, new() { AuthUserGrantRole = new() { User = "alice", Role = "foo" } });
        return sm;
    }

    [Fact]
    public void Enable_needs_the_root_user_with_the_root_role()
    {
        using var sm = new KvStateMachine(bcryptCost: 4);
        Assert.Equal(AuthErrors.RootUserNotExist, Apply(sm, new() { AuthEnable = new() }));
        Ok(sm, UserAdd(sm, "root", "pw"));
        Assert.Equal(AuthErrors.RootRoleNotExist, Apply(sm, new() { AuthEnable = new() }));
        Ok(sm, new() { AuthUserGrantRole = new() { User = "root", Role = "root" } });
        Ok(sm, new() { AuthEnable = new() });
        Assert.True(sm.Auth.Enabled);
        Assert.Equal("etcdserver: root user does not exist", AuthErrors.RootUserNotExist.Message);
    }

    [Fact]
    public void Revision_counts_changes_only()
    {
        using var sm = WithRootAndAlice();
        var before = sm.Auth.Revision;
        Assert.Equal(AuthErrors.UserAlreadyExist, Apply(sm, UserAdd(sm, "alice", "x")));
        Assert.Equal(AuthErrors.RoleNotFound, Apply(sm, new() { AuthUserGrantRole = new() { User = "alice", Role = "nope" } }));
        Assert.Equal(AuthErrors.UserEmpty, Apply(sm, new() { AuthUserAdd = new() { Name = "" } }));
        Assert.Equal(before, sm.Auth.Revision);
        Ok(sm, Grant("foo", "a", "b", KvPb.Permission.Types.Type.Read));
        Assert.Equal(before + 1, sm.Auth.Revision);
    }

    [Fact]
    public void Permissions_on_keys_ranges_prefixes_and_overlapping_grants()
    {
        using var sm = WithRootAndAlice();
        Ok(sm, Grant("foo", "foo/", "foo0", KvPb.Permission.Types.Type.Readwrite)); // prefix foo/
        Ok(sm, Grant("foo", "k", "", KvPb.Permission.Types.Type.Read));              // one key
        Ok(sm, Grant("foo", "m", "p", KvPb.Permission.Types.Type.Write));            // [m, p)
        Ok(sm, Grant("foo", "o", "r", KvPb.Permission.Types.Type.Write));            // overlaps: [m, r) in all
        Ok(sm, new() { AuthEnable = new() });
        var a = sm.Auth;
        Assert.True(a.IsRangePermitted("alice", B("foo/x"), default, AuthPermission.Write));
        Assert.True(a.IsRangePermitted("alice", B("foo/"), B("foo0"), AuthPermission.ReadWrite));
        Assert.False(a.IsRangePermitted("alice", B("foo"), default, AuthPermission.Read));
        Assert.False(a.IsRangePermitted("alice", B("foo/"), B("foo1"), AuthPermission.Read));
        Assert.False(a.IsRangePermitted("alice", B("bar"), default, AuthPermission.Read));
        Assert.True(a.IsRangePermitted("alice", B("k"), default, AuthPermission.Read));
        Assert.False(a.IsRangePermitted("alice", B("k"), default, AuthPermission.Write));
        Assert.False(a.IsRangePermitted("alice", B("k"), B("l"), AuthPermission.Read));
        Assert.True(a.IsRangePermitted("alice", B("n"), B("q"), AuthPermission.Write));   // across both grants
        Assert.False(a.IsRangePermitted("alice", B("n"), B("s"), AuthPermission.Write));
        Assert.False(a.IsRangePermitted("alice", B("n"), B("q"), AuthPermission.Read));
        Assert.False(a.IsRangePermitted("alice", B("a"), new byte[] { 0 }, AuthPermission.Read)); // from key on
        Assert.False(a.IsRangePermitted("nobody", B("foo/x"), default, AuthPermission.Read));
        // Root passes everything, every range.
        Assert.True(a.IsRangePermitted("root", B(""), new byte[] { 0 }, AuthPermission.ReadWrite));
        Assert.True(a.IsAdmin("root"));
        Assert.False(a.IsAdmin("alice"));
        // A revoked permission is gone at once; a deleted role takes its grants with it.
        Ok(sm, new() { AuthRoleRevokePermission = new() { Role = "foo", Key = ByteString.CopyFromUtf8("k") } });
        Assert.False(a.IsRangePermitted("alice", B("k"), default, AuthPermission.Read));
        Ok(sm, new() { AuthRoleDelete = new() { Role = "foo" } });
        Assert.False(a.IsRangePermitted("alice", B("foo/x"), default, AuthPermission.Write));
        Assert.Equal([], a.UserRoles("alice"));
    }

    [Fact]
    public void Off_permits_everything_and_root_cannot_be_removed_while_on()
    {
        using var sm = WithRootAndAlice();
        Assert.True(sm.Auth.IsRangePermitted("alice", B("anything"), default, AuthPermission.Write));
        Ok(sm, new() { AuthEnable = new() });
        Assert.Equal(AuthErrors.InvalidAuthMgmt, Apply(sm, new() { AuthUserDelete = new() { Name = "root" } }));
        Assert.Equal(AuthErrors.InvalidAuthMgmt, Apply(sm, new() { AuthUserRevokeRole = new() { Name = "root", Role = "root" } }));
        Ok(sm, new() { AuthDisable = new() });
        Assert.True(sm.Auth.IsRangePermitted("alice", B("anything"), default, AuthPermission.Write));
    }

    [Fact]
    public void Passwords_are_checked_against_bcrypt_hashes_and_tokens_are_assigned_on_apply()
    {
        using var sm = WithRootAndAlice();
        Assert.Equal(AuthErrors.AuthNotEnabled, sm.Auth.CheckPassword("alice", "alicepw"));
        Ok(sm, new() { AuthEnable = new() });
        Assert.Null(sm.Auth.CheckPassword("alice", "alicepw"));
        Assert.Equal(AuthErrors.AuthFailed, sm.Auth.CheckPassword("alice", "wrong"));
        Assert.Equal(AuthErrors.AuthFailed, sm.Auth.CheckPassword("bob", "alicepw"));
        Assert.Equal("etcdserver: authentication failed, invalid user ID or password", AuthErrors.AuthFailed.Message);
        var token = Assert.IsType<string>(Apply(sm, new() { Authenticate = new() { Name = "alice", SimpleToken = "abcdefghijklmnop" } }));
        Assert.Equal("alice", sm.Auth.TokenInfo(token)?.User);
        Ok(sm, new() { AuthUserChangePassword = new() { Name = "alice", HashedPassword = sm.Auth.HashPassword("new") } });
        Assert.Null(sm.Auth.TokenInfo(token));
        Assert.Null(sm.Auth.CheckPassword("alice", "new"));
        // The backend holds the hash, never the password.
        sm.Store.Commit();
        var stored = string.Join("", sm.Store.ReadAux(Raft.Kv.Backend.KvBucket.Auth).Select(p => Encoding.UTF8.GetString(p.Value)));
        Assert.Contains("$2", stored);
        Assert.DoesNotContain("alicepw", stored);
        Assert.DoesNotContain("rootpw", stored);
    }

    [Fact]
    public void Snapshot_carries_the_auth_state_and_a_snapshot_without_it_clears_it()
    {
        using var sm = WithRootAndAlice();
        Ok(sm, Grant("foo", "foo/", "foo0", KvPb.Permission.Types.Type.Read));
        Ok(sm, new() { AuthEnable = new() });
        var snapshot = sm.TakeSnapshot();
        using var other = new KvStateMachine(bcryptCost: 4);
        other.Restore(snapshot);
        Assert.True(other.Auth.Enabled);
        Assert.Equal(sm.Auth.Revision, other.Auth.Revision);
        Assert.Equal(["alice", "root"], other.Auth.UserNames());
        Assert.True(other.Auth.IsRangePermitted("alice", B("foo/1"), default, AuthPermission.Read));
        Assert.False(other.Auth.IsRangePermitted("alice", B("foo/1"), default, AuthPermission.Write));
        Assert.Null(other.Auth.CheckPassword("alice", "alicepw"));
        other.Restore(new KvStateMachine().TakeSnapshot());
        Assert.False(other.Auth.Enabled);
        Assert.Empty(other.Auth.UserNames());
    }

    [Fact]
    public void An_auth_entry_beside_another_request_is_refused()
    {
        using var sm = WithRootAndAlice();
        var r = new KvPb.InternalRaftRequest { AuthRoleAdd = new() { Name = "x" }, AuthUserAdd = new() { Name = "y" } };
        Assert.IsType<Raft.Kv.Mvcc.KvError>(Apply(sm, r));
        Assert.Null(sm.Auth.RolePermissions("x"));
    }
}
