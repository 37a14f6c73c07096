namespace Raft.Kv.Mvcc;

/// <summary>
/// One key's history in the index (etcd's keyIndex) packed into a single byte array, so that a key
/// costs one small array in memory instead of etcd's key slice, keyIndex, generation slice and
/// revision slice: the key, then its generations. A generation is the life of the key from a create
/// to the delete (tombstone) that ends it; the last generation is empty while the key is deleted.
/// </summary>
/// <remarks>
/// Layout, every number an unsigned LEB128 varint: key length, key bytes, then per generation its
/// revision count n, and when n &gt; 0: version, created main, created sub, and n revisions each as
/// (main minus the previous main, starting from created main; sub). The created revision is kept
/// apart from the revisions because compaction drops old revisions but the key's create_revision
/// stays. Arrays are never changed once built: every change builds a new one.
/// </remarks>
internal static class KeyHistory
{
    /// <summary>A decoded generation.</summary>
    internal readonly record struct Generation(long Version, Revision Created, Revision[] Revisions)
    {
        public bool IsEmpty => Revisions.Length == 0;
    }

    /// <summary>The key bytes of an entry.</summary>
    public static ReadOnlySpan<byte> KeyOf(byte[] entry)
    {
        var pos = 0;
        var length = (int)ReadVarint(entry, ref pos);
        return entry.AsSpan(pos, length);
    }

    /// <summary>A new key created at <paramref name="rev"/> (version 1).</summary>
    public static byte[] Create(ReadOnlySpan<byte> key, Revision rev) => Encode(key, [new Generation(1, rev, [rev])]);

    /// <summary>A key as restored from the backend: one generation holding its newest revision (etcd's keyIndex.restore).</summary>
    /// <remarks>Encoded directly (the same bytes as <see cref="Encode"/>): a restart restores every key.</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static byte[] Restore(ReadOnlySpan<byte> key, Revision created, Revision modified, long version)
    {
        if (modified.Main < created.Main)
            throw new InvalidOperationException($"revision {modified} before its generation's created revision {created} (broken invariant)");
        var delta = (ulong)(modified.Main - created.Main);
        var size = VarintSize((ulong)key.Length) + key.Length + 1 + VarintSize((ulong)version) +
                   VarintSize((ulong)created.Main) + VarintSize((ulong)created.Sub) + VarintSize(delta) + VarintSize((ulong)modified.Sub);
        var entry = new byte[size];
        var pos = 0;
        WriteVarint(entry, ref pos, (ulong)key.Length);
        key.CopyTo(entry.AsSpan(pos));
        pos += key.Length;
        entry[pos++] = 1;
        WriteVarint(entry, ref pos, (ulong)version);
        WriteVarint(entry, ref pos, (ulong)created.Main);
        WriteVarint(entry, ref pos, (ulong)created.Sub);
        WriteVarint(entry, ref pos, delta);
        WriteVarint(entry, ref pos, (ulong)modified.Sub);
        return entry;
    }

    /// <summary>The entry with <paramref name="rev"/> added to the current generation (a new one if the key is deleted).</summary>
    /// <exception cref="InvalidOperationException"><paramref name="rev"/> is not after the key's last revision.</exception>
    public static byte[] Put(byte[] entry, Revision rev)
    {
        var gens = Decode(entry, out var key);
        var last = gens[^1];
        if (last.IsEmpty)
        {
            if (gens.Count > 1 && !rev.GreaterThan(gens[^2].Revisions[^1]))
                throw new InvalidOperationException($"put at {rev} is not after the key's last revision {gens[^2].Revisions[^1]}");
            gens[^1] = new Generation(1, rev, [rev]);
        }
        else
        {
            if (!rev.GreaterThan(last.Revisions[^1]))
                throw new InvalidOperationException($"put at {rev} is not after the key's last revision {last.Revisions[^1]}");
            gens[^1] = new Generation(last.Version + 1, last.Created, [.. last.Revisions, rev]);
        }
        return Encode(key, gens);
    }

    /// <summary>
    /// The entry with the key deleted at <paramref name="rev"/>: the tombstone ends the current
    /// generation and an empty one follows. Null when the key is already deleted.
    /// </summary>
    public static byte[]? Tombstone(byte[] entry, Revision rev)
    {
        var gens = Decode(entry, out var key);
        var last = gens[^1];
        if (last.IsEmpty) return null;
        if (!rev.GreaterThan(last.Revisions[^1]))
            throw new InvalidOperationException($"delete at {rev} is not after the key's last revision {last.Revisions[^1]}");
        gens[^1] = new Generation(last.Version + 1, last.Created, [.. last.Revisions, rev]);
        gens.Add(new Generation(0, default, []));
        return Encode(key, gens);
    }

    /// <summary>
    /// The key as of main revision <paramref name="atRev"/> (etcd's keyIndex.get): its newest revision
    /// at or before it, the generation's created revision and the version then. False when the key did
    /// not exist at that revision (not yet created, or deleted).
    /// </summary>
    public static bool Get(byte[] entry, long atRev, out Revision modified, out Revision created, out long version)
    {
        modified = created = default;
        version = 0;
        var pos = 0;
        var keyLength = (int)ReadVarint(entry, ref pos);
        pos += keyLength;
        // The generation that holds atRev is the last one whose first revision is at or before it;
        // it must not have been ended by a tombstone at or before atRev.
        var found = false;
        while (pos < entry.Length)
        {
            var count = (int)ReadVarint(entry, ref pos);
            if (count == 0) break; // the empty last generation
            var ver = (long)ReadVarint(entry, ref pos);
            var cMain = (long)ReadVarint(entry, ref pos);
            var cSub = (long)ReadVarint(entry, ref pos);
            var main = cMain;
            var firstMain = 0L;
            Revision best = default;
            var bestIndex = -1;
            Revision lastRev = default;
            for (var i = 0; i < count; i++)
            {
                main += (long)ReadVarint(entry, ref pos);
                var sub = (long)ReadVarint(entry, ref pos);
                if (i == 0) firstMain = main;
                lastRev = new Revision(main, sub);
                if (main <= atRev)
                {
                    best = lastRev;
                    bestIndex = i;
                }
            }
            if (firstMain > atRev) break; // this and later generations start after atRev
            var ended = pos < entry.Length; // a generation followed by another ended with a tombstone
            if (ended && lastRev.Main <= atRev)
            {
                found = false;
                continue;
            }
            found = bestIndex >= 0;
            modified = best;
            created = new Revision(cMain, cSub);
            version = ver - (count - bestIndex - 1);
        }
        return found;
    }

    /// <summary>
    /// Compacts the history at main revision <paramref name="atRev"/> (etcd's keyIndex.compact): keeps
    /// the newest revision at or before it if the key was alive then, drops older revisions and every
    /// generation ended at or before it, and adds the revisions whose backend pairs must stay to
    /// <paramref name="available"/>. Returns the new entry, or null when nothing is left.
    /// </summary>
    public static byte[]? Compact(byte[] entry, long atRev, ISet<Revision> available)
    {
        var gens = Decode(entry, out var key);
        var genIdx = 0;
        // The first generation that holds atRev or starts after it.
        while (genIdx < gens.Count - 1 && gens[genIdx].Revisions[^1].Main <= atRev) genIdx++;
        var g = gens[genIdx];
        if (!g.IsEmpty)
        {
            var revIndex = -1;
            for (var i = g.Revisions.Length - 1; i >= 0; i--)
            {
                if (g.Revisions[i].Main <= atRev)
                {
                    available.Add(g.Revisions[i]);
                    revIndex = i;
                    break;
                }
            }
            if (revIndex > 0) gens[genIdx] = g = g with { Revisions = g.Revisions[revIndex..] };
            // A generation down to its tombstone alone is over: drop it too.
            if (g.Revisions.Length == 1 && genIdx != gens.Count - 1)
            {
                available.Remove(g.Revisions[0]);
                genIdx++;
            }
        }
        gens.RemoveRange(0, genIdx);
        if (gens.Count == 1 && gens[0].IsEmpty) return null;
        return Encode(key, gens);
    }

    /// <summary>Every generation of an entry (for compaction and tests).</summary>
    public static List<Generation> Decode(byte[] entry, out byte[] key)
    {
        var pos = 0;
        var keyLength = (int)ReadVarint(entry, ref pos);
        key = entry.AsSpan(pos, keyLength).ToArray();
        pos += keyLength;
        var gens = new List<Generation>(2);
        while (pos < entry.Length)
        {
            var count = (int)ReadVarint(entry, ref pos);
            if (count == 0)
            {
                gens.Add(new Generation(0, default, []));
                continue;
            }
            var ver = (long)ReadVarint(entry, ref pos);
            var created = new Revision((long)ReadVarint(entry, ref pos), (long)ReadVarint(entry, ref pos));
            var revs = new Revision[count];
            var main = created.Main;
            for (var i = 0; i < count; i++)
            {
                main += (long)ReadVarint(entry, ref pos);
                revs[i] = new Revision(main, (long)ReadVarint(entry, ref pos));
            }
            gens.Add(new Generation(ver, created, revs));
        }
        return gens;
    }

    /// <summary>Packs a key and its generations.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> key, IReadOnlyList<Generation> gens)
    {
        var size = VarintSize((ulong)key.Length) + key.Length;
        foreach (var g in gens)
        {
            size += VarintSize((ulong)g.Revisions.Length);
            if (g.IsEmpty) continue;
            size += VarintSize((ulong)g.Version) + VarintSize((ulong)g.Created.Main) + VarintSize((ulong)g.Created.Sub);
            var main = g.Created.Main;
            foreach (var r in g.Revisions)
            {
                size += VarintSize((ulong)(r.Main - main)) + VarintSize((ulong)r.Sub);
                main = r.Main;
            }
        }
        var entry = new byte[size];
        var pos = 0;
        WriteVarint(entry, ref pos, (ulong)key.Length);
        key.CopyTo(entry.AsSpan(pos));
        pos += key.Length;
        foreach (var g in gens)
        {
            WriteVarint(entry, ref pos, (ulong)g.Revisions.Length);
            if (g.IsEmpty) continue;
            WriteVarint(entry, ref pos, (ulong)g.Version);
            WriteVarint(entry, ref pos, (ulong)g.Created.Main);
            WriteVarint(entry, ref pos, (ulong)g.Created.Sub);
            var main = g.Created.Main;
            foreach (var r in g.Revisions)
            {
                if (r.Main < main) throw new InvalidOperationException($"revision {r} before its generation's created revision {g.Created} (broken invariant)");
                WriteVarint(entry, ref pos, (ulong)(r.Main - main));
                WriteVarint(entry, ref pos, (ulong)r.Sub);
                main = r.Main;
            }
        }
        return entry;
    }

    private static int VarintSize(ulong v)
    {
        var n = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            n++;
        }
        return n;
    }

    private static void WriteVarint(byte[] buffer, ref int pos, ulong v)
    {
        while (v >= 0x80)
        {
            buffer[pos++] = (byte)(v | 0x80);
            v >>= 7;
        }
        buffer[pos++] = (byte)v;
    }

    private static ulong ReadVarint(byte[] buffer, ref int pos)
    {
        ulong v = 0;
        var shift = 0;
        byte b;
        do
        {
            b = buffer[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0);
        return v;
    }
}
