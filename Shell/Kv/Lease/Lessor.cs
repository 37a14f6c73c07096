using System.Text;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Lease;

/// <summary>What a lease answers to TimeToLive: its id, remaining and granted TTL (seconds) and, when asked, its keys.</summary>
/// <param name="Id">The lease id.</param>
/// <param name="RemainingTtl">Seconds until it expires, rounded up (etcd answers the granted TTL on a member that is not the leader).</param>
/// <param name="GrantedTtl">The TTL it was granted with.</param>
/// <param name="Keys">Its keys in key order (empty unless asked for).</param>
public sealed record LeaseTimeToLive(long Id, long RemainingTtl, long GrantedTtl, IReadOnlyList<byte[]> Keys);

/// <summary>
/// etcd's lessor (server/lease/lessor.go) without checkpoints: the leases granted through Raft,
/// the keys attached to each, and, on the leader only (the primary), when each expires.
/// </summary>
/// <remarks>
/// Every member holds the same leases and attachments (both change only when entries are applied),
/// but only the primary keeps expiry times: a member that is not the leader never expires a lease,
/// and the leader expires one by proposing its revoke, so every member deletes the same keys at the
/// same revision. On promotion each lease gets its full TTL again plus the election timeout (etcd
/// 3.5's refresh, with checkpointing off), so a lease outlives a leader change by at least what
/// was left of it.
/// </remarks>
public sealed class Lessor
{
    /// <summary>etcd's MaxLeaseTTL: the largest TTL a grant may ask for, in seconds.</summary>
    public const long MaxTtl = 9_000_000_000;

    private readonly object _lock = new();
    private readonly TimeProvider _time;
    private readonly Dictionary<long, Entry> _leases = [];
    // Which lease each key is attached to; Latin-1 maps bytes to chars one to one.
    private readonly Dictionary<string, long> _keyLease = new(StringComparer.Ordinal);
    private bool _primary;

    /// <summary>Creates an empty lessor that reads the clock from <paramref name="time"/>; grants below <paramref name="minTtl"/> seconds get it.</summary>
    public Lessor(TimeProvider? time = null, long minTtl = 1)
    {
        _time = time ?? TimeProvider.System;
        MinTtl = Math.Max(1, minTtl);
    }

    /// <summary>The smallest TTL a lease gets (etcd: 1.5 election timeouts, rounded up to seconds).</summary>
    public long MinTtl { get; set; }

    /// <summary>Whether this lessor expires leases (it is the leader's).</summary>
    public bool IsPrimary
    {
        get
        {
            lock (_lock) return _primary;
        }
    }

    /// <summary>How many leases there are.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _leases.Count;
        }
    }

    /// <summary>Whether lease <paramref name="id"/> exists.</summary>
    public bool Exists(long id)
    {
        lock (_lock) return _leases.ContainsKey(id);
    }

    /// <summary>The TTL a grant of <paramref name="ttl"/> seconds gets: at least <see cref="MinTtl"/>.</summary>
    public long EffectiveTtl(long ttl) => Math.Max(ttl, MinTtl);

    /// <summary>
    /// Applies a grant (etcd's lessor.Grant): the lease starts with <see cref="EffectiveTtl"/> seconds,
    /// counted from now on the primary, without an expiry elsewhere. Returns the TTL granted, or the
    /// error for an id of 0 or one in use, or a TTL above <see cref="MaxTtl"/>.
    /// </summary>
    public (long Ttl, KvError? Error) Grant(long id, long ttl)
    {
        if (id == 0) return (0, LeaseErrors.NotFound);
        if (ttl > MaxTtl) return (0, LeaseErrors.TtlTooLarge);
        ttl = EffectiveTtl(ttl);
        lock (_lock)
        {
            if (_leases.ContainsKey(id)) return (0, LeaseErrors.Exists);
            var entry = new Entry(ttl);
            if (_primary) entry.Refresh(_time.GetUtcNow(), TimeSpan.Zero);
            _leases[id] = entry;
        }
        return (ttl, null);
    }

    /// <summary>Adds a lease as stored (a restart or a snapshot), with no keys yet and an expiry only on the primary.</summary>
    public void Restore(long id, long ttl)
    {
        lock (_lock)
        {
            var entry = new Entry(ttl);
            if (_primary) entry.Refresh(_time.GetUtcNow(), TimeSpan.Zero);
            _leases[id] = entry;
        }
    }

    /// <summary>Forgets every lease and attachment (before a snapshot is restored).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _leases.Clear();
            _keyLease.Clear();
        }
    }

    /// <summary>The keys of lease <paramref name="id"/> in key order (etcd's revoke deletes them in this order), or null when there is no such lease.</summary>
    public IReadOnlyList<byte[]>? Keys(long id)
    {
        lock (_lock)
        {
            if (!_leases.TryGetValue(id, out var entry)) return null;
            return entry.Keys.Order(StringComparer.Ordinal).Select(k => Encoding.Latin1.GetBytes(k)).ToList();
        }
    }

    /// <summary>Removes lease <paramref name="id"/> (its keys are deleted by the caller, in the same apply). Returns whether it existed.</summary>
    public bool Remove(long id)
    {
        lock (_lock)
        {
            if (!_leases.Remove(id, out var entry)) return false;
            foreach (var key in entry.Keys) _keyLease.Remove(key);
            return true;
        }
    }

    /// <summary>
    /// Follows the store's changes (etcd attaches and detaches in storeTxnWrite.put and delete): a put
    /// moves its key to the lease it names (none for 0), a delete detaches the key.
    /// </summary>
    public void Observe(MvccChanges changes)
    {
        lock (_lock)
        {
            foreach (var e in changes.Events)
            {
                var key = Encoding.Latin1.GetString(e.Kv.Key.Span);
                if (_keyLease.Remove(key, out var old) && _leases.TryGetValue(old, out var was)) was.Keys.Remove(key);
                if (e.Type != MvccEventType.Put || e.Kv.Lease == 0) continue;
                // A put with a lease is checked against the lessor before it is applied; a lease missing
                // here would mean a put that skipped the check, and the key then simply stays unattached.
                if (!_leases.TryGetValue(e.Kv.Lease, out var entry)) continue;
                entry.Keys.Add(key);
                _keyLease[key] = e.Kv.Lease;
            }
        }
    }

    /// <summary>Attaches a stored key to its lease (a restart or a snapshot); a key whose lease is gone stays unattached.</summary>
    public void Attach(ReadOnlySpan<byte> key, long lease)
    {
        if (lease == 0) return;
        lock (_lock)
        {
            if (!_leases.TryGetValue(lease, out var entry)) return;
            var k = Encoding.Latin1.GetString(key);
            entry.Keys.Add(k);
            _keyLease[k] = lease;
        }
    }

    /// <summary>
    /// Makes this lessor the primary (etcd's Promote): every lease expires its full TTL plus
    /// <paramref name="extend"/> from now, so a new leader never expires a lease before the old one would have.
    /// </summary>
    public void Promote(TimeSpan extend)
    {
        lock (_lock)
        {
            _primary = true;
            var now = _time.GetUtcNow();
            foreach (var entry in _leases.Values) entry.Refresh(now, extend);
        }
    }

    /// <summary>Stops expiring leases (etcd's Demote): every expiry is forgotten.</summary>
    public void Demote()
    {
        lock (_lock)
        {
            _primary = false;
            foreach (var entry in _leases.Values) entry.Forever();
        }
    }

    /// <summary>
    /// Keeps lease <paramref name="id"/> alive (etcd's Renew): its full TTL from now. Returns the TTL,
    /// or the error when it does not exist, has already expired, or this lessor is not the primary.
    /// </summary>
    public (long Ttl, KvError? Error) Renew(long id)
    {
        lock (_lock)
        {
            if (!_primary) return (0, LeaseErrors.NotPrimary);
            if (!_leases.TryGetValue(id, out var entry)) return (0, LeaseErrors.NotFound);
            var now = _time.GetUtcNow();
            // etcd: a lease already expired is being revoked; renewing it would only race the revoke.
            if (entry.Expiry <= now) return (0, LeaseErrors.NotFound);
            entry.Refresh(now, TimeSpan.Zero);
            return (entry.Ttl, null);
        }
    }

    /// <summary>TimeToLive of lease <paramref name="id"/>, with its keys if <paramref name="keys"/>; null when there is no such lease.</summary>
    public LeaseTimeToLive? TimeToLive(long id, bool keys)
    {
        var list = keys ? Keys(id) : [];
        lock (_lock)
        {
            if (!_leases.TryGetValue(id, out var entry)) return null;
            var remaining = entry.Expiry == DateTimeOffset.MaxValue
                ? entry.Ttl
                : (long)Math.Ceiling(Math.Max(0, (entry.Expiry - _time.GetUtcNow()).TotalSeconds));
            return new LeaseTimeToLive(id, remaining, entry.Ttl, list ?? []);
        }
    }

    /// <summary>Every lease id, in increasing order.</summary>
    public IReadOnlyList<long> Leases()
    {
        lock (_lock) return _leases.Keys.Order().ToList();
    }

    /// <summary>The leases whose expiry has passed, earliest first (none unless primary), at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<long> Expired(int limit = int.MaxValue)
    {
        lock (_lock)
        {
            if (!_primary) return [];
            var now = _time.GetUtcNow();
            return _leases.Where(p => p.Value.Expiry <= now).OrderBy(p => p.Value.Expiry).ThenBy(p => p.Key)
                .Take(limit).Select(p => p.Key).ToList();
        }
    }

    /// <summary>Every lease with its granted TTL, in id order (what a snapshot and the Lease bucket keep).</summary>
    public IReadOnlyList<(long Id, long Ttl)> Snapshot()
    {
        lock (_lock) return _leases.OrderBy(p => p.Key).Select(p => (p.Key, p.Value.Ttl)).ToList();
    }

    private sealed class Entry(long ttl)
    {
        public long Ttl { get; } = ttl;

        public DateTimeOffset Expiry { get; private set; } = DateTimeOffset.MaxValue;

        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);

        public void Refresh(DateTimeOffset now, TimeSpan extend) => Expiry = now + extend + TimeSpan.FromSeconds(Ttl);

        public void Forever() => Expiry = DateTimeOffset.MaxValue;
    }
}
