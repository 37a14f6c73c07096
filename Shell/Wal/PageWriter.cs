using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>
/// Buffers writes and hands them to the file in whole pages where it can (etcd's
/// ioutil.PageWriter): a full buffer is flushed only up to a page boundary, so a torn write can be
/// told from corruption by sector, and large records go out without a copy.
/// </summary>
internal sealed class PageWriter
{
    private const int DefaultBufferBytes = 128 * 1024;

    private readonly LockedFile file;
    private readonly int pageBytes;
    private readonly byte[] buf;
    private readonly int watermark;
    private long fileOffset;
    private int buffered;

    public PageWriter(LockedFile file, int pageBytes, long offset)
    {
        this.file = file;
        this.pageBytes = pageBytes;
        buf = new byte[DefaultBufferBytes + pageBytes];
        watermark = DefaultBufferBytes;
        fileOffset = offset;
    }

    /// <summary>File offset just past everything written so far, buffered or not.</summary>
    public long Offset => fileOffset + buffered;

    public void Write(ReadOnlySpan<byte> p)
    {
        while (true)
        {
            if (p.Length + buffered <= watermark)
            {
                p.CopyTo(buf.AsSpan(buffered));
                buffered += p.Length;
                return;
            }
            // Complete the partly filled page first, so the flush below ends on a page boundary.
            var slack = pageBytes - (int)((fileOffset + buffered) % pageBytes);
            if (slack != pageBytes)
            {
                var partial = slack > p.Length;
                if (partial) slack = p.Length;
                p[..slack].CopyTo(buf.AsSpan(buffered));
                buffered += slack;
                p = p[slack..];
                if (partial) return;
            }
            Flush();
            if (p.Length > pageBytes)
            {
                var whole = p.Length / pageBytes * pageBytes;
                file.Write(p[..whole], fileOffset);
                fileOffset += whole;
                p = p[whole..];
            }
        }
    }

    /// <summary>Writes out whatever is buffered.</summary>
    public void Flush()
    {
        if (buffered == 0) return;
        file.Write(buf.AsSpan(0, buffered), fileOffset);
        fileOffset += buffered;
        buffered = 0;
    }
}
