using Raft.Interop;
using Raft.Kv.Auth;
using Raft.Kv.Backend;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv;

/// <summary>
/// The replicated key-value store: applies put, delete-range, txn and compaction commands (etcd's
/// InternalRaftRequest encoding, see <see cref="KvCommandCodec"/>) to an <see cref="MvccStore"/> with
/// etcd's revision counting, and serves reads at any retained revision.
/// </summary>
/// <remarks>
/// Readers never block the apply loop: a read names a revision, and the store keeps every revision
/// down to its last compaction, so a reader sees one consistent revision however long it reads.
/// </remarks>
public sealed partial class KvStateMachine : IStateMachine, ISnapshotCapture, IDisposable
{
    private readonly KvMetrics? _metrics;

    /// <summary>
    /// Creates a store on <paramref name="backend"/> (in memory when null), counting puts, deletes and
    /// ranges on <paramref name="metrics"/> if given. The store owns the backend.
    /// </summary>
    /// <param name="metrics">Counters, or null.</param>
    /// <param name="backend">The store's database; in memory when null.</param>
    /// <param name="options">The store's batching.</param>
    /// <param name="bcryptCost">The cost of password hashes (etcd's --bcrypt-cost).</param>
    /// <param name="tokens">The kind of auth token (etcd's --auth-token, see <see cref="AuthTokenOptions"/>); simple tokens when null.</param>
    public KvStateMachine(KvMetrics? metrics = null, IKvBackend? backend = null, MvccStoreOptions? options = null, int bcryptCost = AuthStore.DefaultBcryptCost, IAuthTokens? tokens = null)
    {
        _metrics = metrics;
        _options = options;
        _bcryptCost = bcryptCost;
        _tokens = tokens ?? new SimpleTokens();
        _store = new MvccStore(backend ?? KvBackends.InMemory(), options);
        _auth = new AuthStore(_store, bcryptCost, tokens: _tokens);
        metrics?.ObserveStore(_store);
        LoadAlarms();
    }

    private readonly MvccStoreOptions? _options;
    private readonly int _bcryptCost;
    private readonly IAuthTokens _tokens;
    private MvccStore _store;
    private AuthStore _auth;

    private void LoadAlarms()
    {
        lock (_alarmLock)
        {
            _alarms.Clear();
            foreach (var (key, _) in Store.ReadAux(KvBucket.Alarm))
            {
                if (key.Length == 9) _alarms.Add(new AlarmMember(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key), (AlarmType)key[8]));
            }
        }
        LoadLeases();
    }

    /// <summary>Raised on the apply loop after <see cref="ReplaceStore"/> put a new store in place.</summary>
    internal event Action<MvccStore>? StoreReplaced;

    /// <summary>
    /// Replaces the store with one on <paramref name="backend"/> (a checkpoint just installed), on the
    /// apply loop; the old store is disposed. Readers that hold the old store finish on it.
    /// </summary>
    internal void ReplaceStore(IKvBackend backend)
    {
        var old = Store;
        BeginReplace();
        old.Dispose();
        var store = new MvccStore(backend, _options);
        Volatile.Write(ref _store, store);
        // The auth state lives in the store's Auth bucket: read it again from the installed store.
        _tokens.Clear();
        Volatile.Write(ref _auth, new AuthStore(store, _bcryptCost, tokens: _tokens));
        StoreReplaced?.Invoke(store);
        _metrics?.ObserveStore(store);
        LoadAlarms();
        Interlocked.Exchange(ref _replacing, null)?.TrySetResult();
    }

    private TaskCompletionSource? _replacing;

    /// <summary>
    /// Marks the store as being replaced, before the old one is disposed (a checkpoint's install
    /// disposes it first, then takes seconds to load the new one): a read that finds the old store
    /// disposed waits for <see cref="StoreReplacement"/> and reads again, instead of failing.
    /// </summary>
    internal void BeginReplace()
    {
        if (Volatile.Read(ref _replacing) is null)
            Interlocked.CompareExchange(ref _replacing, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
    }

    /// <summary>Completes once the store being replaced is in place; null when none is being replaced.</summary>
    internal Task? StoreReplacement => Volatile.Read(ref _replacing)?.Task;

    /// <summary>
    /// A local read of the store through <paramref name="read"/>; if the store it found was disposed
    /// by a replacement (a checkpoint being installed), waits for the new one through
    /// <paramref name="wait"/> and reads again. A store disposed for good (the member stopping) still throws.
    /// </summary>
    internal async Task<(T? Result, TError? Error)> ReadAcrossReplacementAsync<T, TError>(Func<T> read, Func<Task, Task<TError?>> wait)
        where T : class where TError : class
    {
        while (true)
        {
            var store = Store;
            try
            {
                return (read(), null);
            }
            catch (ObjectDisposedException) when (StoreReplacement is not null || !ReferenceEquals(store, Store))
            {
                if (StoreReplacement is { } replaced && await wait(replaced) is { } error)
                    return (null, error);
            }
        }
    }

    private readonly object _alarmLock = new();
    private readonly HashSet<AlarmMember> _alarms = [];

    /// <summary>The active alarms (etcd's alarm store), the same on every member.</summary>
    public IReadOnlyList<AlarmMember> Alarms
    {
        get
        {
            lock (_alarmLock) return _alarms.OrderBy(a => a.MemberId).ThenBy(a => a.Alarm).ToList();
        }
    }

    /// <summary>Whether the NOSPACE alarm is raised: writes are refused until it is cleared.</summary>
    public bool NoSpace
    {
        get
        {
            lock (_alarmLock) return _alarms.Any(a => a.Alarm == AlarmType.NoSpace);
        }
    }

    /// <summary>Users, roles, permissions and tokens (etcd's auth store), changed by the auth commands.</summary>
    public AuthStore Auth => Volatile.Read(ref _auth);

    /// <summary>The multi-version store the commands are applied to.</summary>
    public MvccStore Store => Volatile.Read(ref _store);

    /// <summary>
    /// Applies one command. Returns a <see cref="PutResponse"/>, <see cref="DeleteRangeResponse"/>,
    /// <see cref="TxnResponse"/> or <see cref="CompactionResponse"/>, or a <see cref="KvError"/> (the
    /// store unchanged) for a command that is malformed or invalid: a bad entry must not stop the
    /// apply loop, and every member answers it the same way.
    /// </summary>
    public object? Apply(ulong index, ReadOnlyMemory<byte> command)
    {
        // A restarted member replays its log from its last snapshot; the store's backend already holds
        // every entry up to its consistent index, and applying one twice would give it a second
        // revision (etcd's applier skips them the same way). Nobody waits for a replayed entry's answer.
        if (index <= Store.ConsistentIndex) return null;
        var decoded = KvCommandCodec.Decode(command, out var caller);
        // etcd's authApplierV3: the caller's permissions checked again at the auth revision the
        // request was checked at, so a permission revoked in between is never bypassed.
        if (AuthChecker.ApplyCheck(Auth, caller, decoded, LeaseKeys) is { } denied)
        {
            Store.SetConsistentIndex(index);
            return denied;
        }
        switch (decoded)
        {
            case PutRequest put:
            {
                if (put.Check() is { } invalid) return Refuse(index, invalid);
                // etcd's applierV3Capped: while NOSPACE is raised, writes are refused.
                if (NoSpace) return Refuse(index, KvError.NoSpace);
                // etcd's Put looks the lease up before it reads the key ignore_value and ignore_lease
                // need (a txn's checkRequestPut reads the key first).
                if (put.Lease != 0 && !Lessor.Exists(put.Lease)) return Refuse(index, Lease.LeaseErrors.NotFound);
                if (put.IgnoreLease || put.IgnoreValue)
                {
                    KvError? missing;
                    // The view ends before Refuse takes the store's batch lock (see KvApplier.Txn).
                    using (var read = Store.Read()) missing = KvApplier.CheckPut(read, put, Lessor.Exists);
                    if (missing is { } refused) return Refuse(index, refused);
                }
                using var txn = Store.Write(index);
                var response = KvApplier.Put(txn, put);
                _metrics?.Put();
                return response;
            }
            case DeleteRangeRequest delete:
            {
                if (delete.Check() is { } invalid) return Refuse(index, invalid);
                using var txn = Store.Write(index);
                var response = KvApplier.DeleteRange(txn, delete);
                _metrics?.Delete();
                return response;
            }
            case TxnRequest txn:
                _metrics?.Txn();
                if (NoSpace && KvApplier.IsWrite(txn)) return Refuse(index, KvError.NoSpace);
                return KvApplier.Txn(Store, index, txn, Lessor.Exists);
            case Lease.LeaseGrantRequest grant:
                return ApplyLeaseGrant(index, grant);
            case Lease.LeaseRevokeRequest revoke:
                return ApplyLeaseRevoke(index, revoke);
            case AlarmRequest alarm:
                Store.SetConsistentIndex(index);
                return ApplyAlarm(alarm);
            case CompactionRequest compaction:
                Store.SetConsistentIndex(index);
                try
                {
                    Store.Compact(compaction.Revision);
                }
                catch (MvccException e)
                {
                    return e.Error;
                }
                return new CompactionResponse(Store.CurrentRevision);
            case AuthCommand auth:
                return Auth.Apply(index, auth.Request);
            case KvError error:
                return Refuse(index, error);
            default:
                throw new InvalidOperationException("KvCommandCodec.Decode returned an unexpected type (broken invariant)");
        }
    }

    // etcd's applierV3backend.Alarm: activate and deactivate answer with the alarm touched, get with the active ones of the type (none: all).
    private AlarmResponse ApplyAlarm(AlarmRequest request)
    {
        var member = new AlarmMember(request.MemberId, request.Alarm);
        var key = new byte[9];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(key, request.MemberId);
        key[8] = (byte)request.Alarm;
        lock (_alarmLock)
        {
            switch (request.Action)
            {
                case AlarmAction.Activate when request.Alarm != AlarmType.None:
                    if (_alarms.Add(member)) Store.PutAux(KvBucket.Alarm, key, []);
                    return new AlarmResponse([member]);
                case AlarmAction.Deactivate:
                    if (!_alarms.Remove(member)) return new AlarmResponse([]);
                    Store.DeleteAux(KvBucket.Alarm, key);
                    return new AlarmResponse([member]);
                case AlarmAction.Get:
                    return new AlarmResponse(_alarms.Where(a => request.Alarm == AlarmType.None || a.Alarm == request.Alarm)
                        .OrderBy(a => a.MemberId).ThenBy(a => a.Alarm).ToList());
                default:
                    return new AlarmResponse([]);
            }
        }
    }

    private IEnumerable<byte[]> LeaseKeys(long id) => Lessor.Keys(id) ?? [];

    private KvError Refuse(ulong index, KvError error)
    {
        Store.SetConsistentIndex(index);
        return error;
    }

    /// <summary>Reads a range at the current revision or the one it names (see <see cref="KvApplier.Range"/>).</summary>
    /// <returns>A <see cref="RangeResponse"/> or a <see cref="KvError"/>.</returns>
    public object Range(RangeRequest request)
    {
        _metrics?.Range();
        using var read = Store.Read();
        return KvApplier.Range(read, request);
    }

    /// <summary>Every pair alive at the current revision, in key order, with that revision.</summary>
    public (long Revision, IReadOnlyList<KeyValue> Pairs) All()
    {
        using var read = Store.Read();
        return (read.Revision, read.Range(new byte[] { 0 }, new byte[] { 0 }).Kvs);
    }

    // Taken on the apply loop, so the consistent index is that of the last entry the pairs include.
    // The store commits first (etcd forces a backend commit before it saves a snapshot): the node
    // may then drop the log before the snapshot, and a restart must find the store at least as far.
    private (long Revision, IReadOnlyList<KeyValue> Pairs, ulong ConsistentIndex) AllWithIndex()
    {
        Store.Commit();
        var consistentIndex = Store.ConsistentIndex;
        var (revision, pairs) = All();
        return (revision, pairs, consistentIndex);
    }

    /// <inheritdoc />
    public byte[] TakeSnapshot()
    {
        var (revision, pairs, consistentIndex) = AllWithIndex();
        return AuthSnapshot.Append(KvSnapshotCodec.Encode(revision, pairs, consistentIndex, Lessor.Snapshot()), Auth.Export());
    }

    /// <inheritdoc />
    /// <remarks>The pairs are read now, on the apply loop; encoding them is left to the returned function.</remarks>
    public Func<byte[]> CaptureSnapshot()
    {
        var (revision, pairs, consistentIndex) = AllWithIndex();
        var auth = Auth.Export();
        var leases = Lessor.Snapshot();
        return () => AuthSnapshot.Append(KvSnapshotCodec.Encode(revision, pairs, consistentIndex, leases), auth);
    }

    /// <inheritdoc />
    /// <remarks>
    /// A store whose backend has already applied the snapshot's last entry (a restart: the node
    /// restores its newest snapshot, then replays the log after it) is kept as it is, as etcd keeps
    /// its backend when the snapshot is not newer than its consistent index; the entries replayed up
    /// to the store's consistent index are then skipped by <see cref="Apply"/>. Otherwise the store is
    /// replaced and takes the snapshot's consistent index.
    /// </remarks>
    /// <exception cref="InvalidDataException">The bytes are not a snapshot of this store.</exception>
    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        var consistentIndex = KvSnapshotCodec.ConsistentIndexOf(snapshot);
        var (revision, pairs) = KvSnapshotCodec.Decode(snapshot, out var leases);
        if (consistentIndex != 0 && consistentIndex <= Store.ConsistentIndex) return;
        Store.Reset(revision, pairs, consistentIndex);
        Auth.Import(AuthSnapshot.Extract(snapshot).Span);
        RestoreLeases(leases, pairs);
    }

    /// <inheritdoc />
    public void Dispose() => Store.Dispose();
}
