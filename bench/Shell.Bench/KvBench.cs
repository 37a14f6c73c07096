using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Raft.Kv;
using Raft.Kv.Codec;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Bench;

/// <summary>
/// The key-value service's CPU paths without the network: applying a put to a store of 100,000 keys,
/// reading a key and a 100-key range, the gateway's put request (JSON in, command out, JSON answer),
/// and a snapshot of the whole store.
/// </summary>
[MemoryDiagnoser]
public class KvBench
{
    private const int Keys = 100_000;
    private KvStateMachine _store = null!;
    private byte[][] _puts = null!;
    private byte[] _putJson = null!;
    private byte[] _snapshot = null!;
    private ulong _index;
    private int _next;

    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"/registry/key/{i:D8}");

    [GlobalSetup]
    public void Setup()
    {
        _store = new KvStateMachine();
        var value = new byte[256];
        new Random(1).NextBytes(value);
        for (var i = 0; i < Keys; i++) _store.Apply(++_index, KvCommandCodec.Encode(new PutRequest(Key(i), value)));
        _puts = Enumerable.Range(0, 1024).Select(i => KvCommandCodec.Encode(new PutRequest(Key(i * 97 % Keys), value))).ToArray();
        _putJson = Encoding.UTF8.GetBytes($"{{\"key\":\"{Convert.ToBase64String(Key(42))}\",\"value\":\"{Convert.ToBase64String(value)}\"}}");
        _snapshot = _store.TakeSnapshot();
    }

    [Benchmark(Description = "apply put (256 B value, 100k keys)")]
    public object? ApplyPut() => _store.Apply(++_index, _puts[_next++ & 1023]);

    [Benchmark(Description = "range one key")]
    public object RangeOne() => _store.Range(new RangeRequest(Key(_next++ % Keys)));

    [Benchmark(Description = "range 100 keys")]
    public object Range100() => _store.Range(new RangeRequest(Key(500), Key(600)));

    [Benchmark(Description = "gateway put: parse JSON, encode command, write answer")]
    public int GatewayPut()
    {
        GatewayJsonReader.ReadPut(new ReadOnlySequence<byte>(_putJson), out var request);
        var command = KvCommandCodec.Encode(request);
        var output = new ArrayBufferWriter<byte>(256);
        using (var w = GatewayJsonWriter.Create(output))
            GatewayJsonWriter.Put(w, new ResponseHeader(1, 2, 3, 4), new PutResponse(3, null));
        return command.Length + output.WrittenCount;
    }

    [Benchmark(Description = "take snapshot (100k keys)")]
    public byte[] TakeSnapshot() => _store.TakeSnapshot();

    [Benchmark(Description = "restore snapshot (100k keys)")]
    public void Restore() => new KvStateMachine().Restore(_snapshot);
}
