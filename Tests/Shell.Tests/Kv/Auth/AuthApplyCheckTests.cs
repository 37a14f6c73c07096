using System.Text;
using Raft.Kv;
using Raft.Kv.Auth;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;
using static Raft.Shell.Tests.Kv.Auth.AuthStoreTests;
using KvPb = Raft.Kv.Proto;

namespace Raft.Shell.Tests.Kv.Auth;

/// <summary>
/// Permissions checked again when an entry is applied (etcd's authApplierV3), with the caller and
/// auth revision of the entry's header: what changed between the check at the request and the apply
/// decides.
/// </summary>
public class AuthApplyCheckTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    // alice may read and write under foo/ only; auth is on.
    private static KvStateMachine AliceOnFoo()
    {
        var sm = WithRootAndAlice();
        Ok(sm, Grant("foo", "foo/", "foo0", KvPb.Permission.Types.Type.Readwrite));
        Ok(sm, new() { AuthEnable = new() });
        return sm;
    }

    private static byte[] As(string user, ulong revision, byte[] command) => AuthHeader.Append(command, new AuthInfo(user, revision));

    private static int Count(KvStateMachine sm, string key) => sm.Store.Range(B(key), ReadOnlyMemory<byte>.Empty).Kvs.Count;

    [Fact]
    public void The_header_of_no_caller_is_the_empty_header_a_caller_with_no_name_gets_and_decodes_as_one()
    {
        var command = KvCommandCodec.Encode(new PutRequest(B("foo/a"), B("1")));
        var none = AuthHeader.Append(command, null);
        Assert.Equal(AuthHeader.Append(command, new AuthInfo("", 0)), none);
        Assert.Equal(command, none[..command.Length]);
        var parsed = KvPb.InternalRaftRequest.Parser.ParseFrom(none);
        Assert.NotNull(parsed.Header);
        Assert.Equal("", parsed.Header.Username);
        Assert.Equal(0UL, parsed.Header.AuthRevision);
        Assert.Equal("foo/a", parsed.Put.Key.ToStringUtf8());
    }

    [Fact]
    public void A_put_checked_before_its_permission_was_revoked_is_refused_when_applied()
    {
        using var sm = AliceOnFoo();
        // The member took alice's put and checked it at this revision; it is now on its way through Raft.
        var put = As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new PutRequest(B("foo/a"), B("1"))));
        // Before it is applied, root revokes alice's permission (an earlier entry of the log).
        Ok(sm, new() { AuthRoleRevokePermission = new() { Role = "foo", Key = Google.Protobuf.ByteString.CopyFromUtf8("foo/"), RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8("foo0") } });

        Assert.Equal(AuthErrors.AuthOldRevision, ApplyBytes(sm, put));
        Assert.Equal(0, Count(sm, "foo/a"));
        Assert.Equal("etcdserver: revision of auth store is old", AuthErrors.AuthOldRevision.Message);

        // Retried at the new revision (a client authenticates again): refused for the permission itself.
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new PutRequest(B("foo/a"), B("1"))))));
        Assert.Equal(0, Count(sm, "foo/a"));
    }

    [Fact]
    public void A_put_at_the_current_revision_is_applied_inside_the_grant_and_refused_outside()
    {
        using var sm = AliceOnFoo();
        Assert.IsType<PutResponse>(ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new PutRequest(B("foo/a"), B("1"))))));
        Assert.Equal(1, Count(sm, "foo/a"));
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new PutRequest(B("bar"), B("1"))))));
        Assert.Equal(0, Count(sm, "bar"));
        // A delete of a range reaching outside foo/ and a txn comparing a key outside it: refused.
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new DeleteRangeRequest(B("foo/"), B("fop"))))));
        var txn = new TxnRequest([new Compare(CompareResult.Equal, CompareTarget.Version, B("bar"), default, CompareTarget.Version, 0, default)],
            [new PutRequest(B("foo/b"), B("2"))], []);
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(txn))));
        Assert.Equal(0, Count(sm, "foo/b"));
        // No user in the header (a request taken before auth was enabled): etcd's "user name is empty".
        Assert.Equal(AuthErrors.UserEmpty, ApplyBytes(sm, As("", 0, KvCommandCodec.Encode(new PutRequest(B("foo/c"), B("1"))))));
        // An entry without a header is the cluster's own (lease expiry, alarms, auto compaction): applied.
        Assert.IsType<PutResponse>(ApplyBytes(sm, KvCommandCodec.Encode(new PutRequest(B("bar"), B("1")))));
    }

    [Fact]
    public void Auth_management_needs_root_when_applied()
    {
        using var sm = AliceOnFoo();
        var grant = Google.Protobuf.MessageExtensions.ToByteArray(Grant("foo", "", "\0", KvPb.Permission.Types.Type.Readwrite));
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, grant)));
        Assert.False(sm.Auth.IsRangePermitted("alice", B("bar"), default, AuthPermission.Read));
        Assert.Equal(true, ApplyBytes(sm, As("root", sm.Auth.Revision, grant)));
        Assert.True(sm.Auth.IsRangePermitted("alice", B("bar"), default, AuthPermission.Read));
    }

    [Fact]
    public void A_lease_revoke_needs_write_on_the_keys_attached_to_the_lease()
    {
        using var sm = AliceOnFoo();
        Assert.IsType<Raft.Kv.Lease.LeaseGrantResponse>(ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new Raft.Kv.Lease.LeaseGrantRequest(7, 60)))));
        Assert.IsType<PutResponse>(ApplyBytes(sm, As("root", sm.Auth.Revision, KvCommandCodec.Encode(new PutRequest(B("bar"), B("1"), Lease: 7)))));
        // alice may not delete bar, so she may neither revoke the lease nor attach her own key to it.
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new Raft.Kv.Lease.LeaseRevokeRequest(7)))));
        Assert.Equal(AuthErrors.PermissionDenied, ApplyBytes(sm, As("alice", sm.Auth.Revision, KvCommandCodec.Encode(new PutRequest(B("foo/x"), B("1"), Lease: 7)))));
        Assert.True(sm.Lessor.Exists(7));
        Assert.Equal(1, Count(sm, "bar"));
        Assert.IsType<Raft.Kv.Lease.LeaseRevokeResponse>(ApplyBytes(sm, As("root", sm.Auth.Revision, KvCommandCodec.Encode(new Raft.Kv.Lease.LeaseRevokeRequest(7)))));
        Assert.Equal(0, Count(sm, "bar"));
    }
}
