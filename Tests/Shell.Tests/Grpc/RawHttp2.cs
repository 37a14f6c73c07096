using System.Net.Sockets;
using System.Text;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// A cleartext HTTP/2 client that writes frames by hand, for clients that break the rules a real
/// client library keeps (opening more streams than the server allows, header blocks left open).
/// Frames the server sends are collected by a background reader.
/// </summary>
internal sealed class RawHttp2 : IAsyncDisposable
{
    public const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, Continuation = 9;
    public const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;
    public const uint RefusedStream = 7;

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly Task _reader;
    private readonly List<(byte Type, byte Flags, int StreamId, byte[] Payload)> _frames = [];

    private RawHttp2(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Set once the server closed the connection.</summary>
    public bool Closed { get; private set; }

    /// <summary>Connects and sends the preface and an empty SETTINGS frame.</summary>
    public static async Task<RawHttp2> ConnectAsync(Uri url)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(url.Host, url.Port);
        var h2 = new RawHttp2(tcp);
        await h2.WriteRawAsync(Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        await h2.WriteFrameAsync(Settings, 0, 0, []);
        return h2;
    }

    /// <summary>Waits until the server's SETTINGS arrived and were acknowledged, and its first frames have passed.</summary>
    public async Task SettledAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!_settingsAcked && !Closed && DateTime.UtcNow < deadline) await Task.Delay(20);
        await Task.Delay(200);
    }

    private volatile bool _settingsAcked;

    /// <summary>The frames received so far.</summary>
    public List<(byte Type, byte Flags, int StreamId, byte[] Payload)> Frames
    {
        get { lock (_frames) return [.. _frames]; }
    }

    /// <summary>The error code of an RST_STREAM the server sent for <paramref name="streamId"/>, if any.</summary>
    public uint? ResetCode(int streamId) =>
        Frames.Where(f => f.Type == RstStream && f.StreamId == streamId).Select(f => (uint?)BigEndian(f.Payload, 0)).FirstOrDefault();

    public static uint BigEndian(byte[] b, int at) => (uint)(b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]);

    /// <summary>
    /// An HPACK block (no Huffman, no indexing) for a gRPC POST to <paramref name="path"/>:
    /// :method POST and :scheme http from the static table, the rest as literals.
    /// </summary>
    public static byte[] GrpcRequestHeaders(string authority, string path)
    {
        var block = new List<byte> { 0x83, 0x86 };
        void Literal(byte indexedName, string value)
        {
            block.Add(indexedName);
            block.Add((byte)value.Length);
            block.AddRange(Encoding.ASCII.GetBytes(value));
        }
        Literal(0x04, path);       // :path (static index 4)
        Literal(0x01, authority);  // :authority (static index 1)
        block.Add(0x0F);           // content-type (static index 31 = 15 + 16)
        Literal(0x10, "application/grpc");
        block.Add(0x00);           // te, a new name
        block.Add(2);
        block.AddRange("te"u8.ToArray());
        block.Add(8);
        block.AddRange("trailers"u8.ToArray());
        return [.. block];
    }

    public Task WriteRawAsync(byte[] bytes) => WriteAsync(bytes);

    public Task WriteFrameAsync(byte type, byte flags, int streamId, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        frame[5] = (byte)(streamId >> 24 & 0x7F);
        frame[6] = (byte)(streamId >> 16);
        frame[7] = (byte)(streamId >> 8);
        frame[8] = (byte)streamId;
        payload.CopyTo(frame, 9);
        return WriteAsync(frame);
    }

    private async Task WriteAsync(byte[] bytes)
    {
        await _write.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes);
        }
        finally
        {
            _write.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var head = new byte[9];
        try
        {
            while (true)
            {
                await _stream.ReadExactlyAsync(head);
                var length = head[0] << 16 | head[1] << 8 | head[2];
                var payload = new byte[length];
                await _stream.ReadExactlyAsync(payload);
                var id = (int)(BigEndian(head, 5) & 0x7FFFFFFF);
                lock (_frames) _frames.Add((head[3], head[4], id, payload));
                // The server's SETTINGS and PINGs want answers, as a client's library would give them.
                if (head[3] == Settings && (head[4] & Ack) == 0)
                {
                    await WriteFrameAsync(Settings, Ack, 0, []);
                    _settingsAcked = true;
                }
                if (head[3] == Ping && (head[4] & Ack) == 0) await WriteFrameAsync(Ping, Ack, 0, payload);
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or SocketException or ObjectDisposedException)
        {
            Closed = true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        try
        {
            await _reader;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }
    }
}
