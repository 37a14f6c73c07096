using Raft.Kv.Backend;

namespace Raft.Shell.Tests.Kv.Backend;

/// <summary>
/// <see cref="IKvBackend.ReleaseReadPages"/> on LMDB: the pages a full read mapped into the process
/// leave its resident memory, and the data read afterwards is the same.
/// </summary>
public sealed class MappedPagesTests
{
    [Fact]
    public void Releasing_after_a_full_read_unmaps_the_database_pages_and_reads_stay_the_same()
    {
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        var value = new byte[1000];
        using (var batch = backend.BeginBatch())
        {
            for (var i = 0; i < 4000; i++)
            {
                value[0] = (byte)i;
                batch.Put(KvBucket.Key, BitConverter.GetBytes(i).Reverse().ToArray(), value);
            }
            batch.Commit();
        }
        var dataFile = Path.Combine(Path.GetFullPath(t.Path), LmdbBackend.DataFile);

        var before = ReadAll(backend);
        var mapped = ResidentKiB(dataFile);
        backend.ReleaseReadPages();
        var released = ResidentKiB(dataFile);
        var after = ReadAll(backend);

        // 4,000 pairs of a kilobyte: about 4 MB read, all mapped by the walk.
        Assert.True(mapped >= 3000, $"a full read mapped {mapped} KiB of {dataFile}");
        Assert.True(released < mapped / 10, $"{released} KiB still mapped after the release (of {mapped})");
        Assert.Equal(before, after);
        Assert.True(ResidentKiB(dataFile) >= 3000, "reading again maps the pages again");
    }

    [Fact]
    public void Only_mappings_of_the_exact_path_are_found()
    {
        string[] lines =
        [
            "7f5d2c000000-7f9d2c000000 r--s 00000000 fe:00 11822238                   /data/my dir/kv/data.mdb",
            "7f9d336d6000-7f9d336e7000 rw-s 00000000 fe:00 11822237                   /data/my dir/kv/lock.mdb",
            "7f9d40000000-7f9d40001000 r--s 00002000 fe:00 11822238                   /data/my dir/kv/data.mdb.old",
            "7f9d50000000-7f9d50004000 r--s 00004000 fe:00 11822238                   /data/my dir/kv/data.mdb",
            "7f9d337e8000-7f9d337eb000 rw-p 00000000 00:00 0 ",
        ];
        Assert.Equal(
            [(0x7f5d2c000000L, 0x7f9d2c000000L, 0L), (0x7f9d50000000L, 0x7f9d50004000L, 0x4000L)],
            MappedPages.Mappings(lines, "/data/my dir/kv/data.mdb"));
    }

    private static List<string> ReadAll(IKvBackend backend)
    {
        using var reader = backend.OpenReader();
        var pairs = new List<string>();
        reader.Visit(KvBucket.Key, (key, value) =>
        {
            pairs.Add($"{Convert.ToHexString(key)}={value.Length}:{value[0]}");
            return true;
        });
        return pairs;
    }

    // The resident kilobytes of the process's mappings of a file (/proc/self/smaps).
    private static long ResidentKiB(string path)
    {
        long total = 0;
        var inFile = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0 && fields[0].Contains('-') && !fields[0].EndsWith(':'))
                inFile = fields.Length >= 6 && fields[5].Trim() == path;
            else if (inFile && fields is ["Rss:", var kib, ..])
                total += long.Parse(kib);
        }
        return total;
    }
}
