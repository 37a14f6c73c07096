using System.Buffers.Binary;
using Raft.Interop;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// A small replicated state machine for node tests: it keeps every command in order, answers each
/// Apply with the command's position, and snapshots the whole list.
/// </summary>
public sealed class ListStateMachine : IStateMachine
{
    private readonly object _lock = new();
    private List<byte[]> _items = [];

    /// <summary>Indexes Apply was called with, to check order and gaps.</summary>
    public List<ulong> AppliedIndexes { get; } = [];

    public int Restores { get; private set; }

    public IReadOnlyList<string> Items
    {
        get
        {
            lock (_lock)
                return _items.Select(b => System.Text.Encoding.UTF8.GetString(b)).ToArray();
        }
    }

    public object? Apply(ulong index, ReadOnlyMemory<byte> command)
    {
        lock (_lock)
        {
            if (AppliedIndexes.Count > 0 && index <= AppliedIndexes[^1])
                throw new InvalidOperationException($"applied {index} after {AppliedIndexes[^1]}");
            AppliedIndexes.Add(index);
            _items.Add(command.ToArray());
            return _items.Count;
        }
    }

    public byte[] TakeSnapshot()
    {
        lock (_lock)
        {
            using var ms = new MemoryStream();
            Span<byte> len = stackalloc byte[4];
            foreach (var item in _items)
            {
                BinaryPrimitives.WriteInt32LittleEndian(len, item.Length);
                ms.Write(len);
                ms.Write(item);
            }
            return ms.ToArray();
        }
    }

    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        var items = new List<byte[]>();
        var span = snapshot.Span;
        while (span.Length > 0)
        {
            var n = BinaryPrimitives.ReadInt32LittleEndian(span);
            items.Add(span.Slice(4, n).ToArray());
            span = span[(4 + n)..];
        }
        lock (_lock)
        {
            _items = items;
            AppliedIndexes.Clear();
            Restores++;
        }
    }
}
