using System.Text.Json;
using Raft.Interop;

namespace DictionarySample;

/// <summary>A command of the dictionary: set <see cref="Key"/> to <see cref="Value"/>, or remove it when Value is null.</summary>
public sealed record DictionaryCommand(string Key, string? Value);

/// <summary>
/// The replicated state: every member applies the same commands in the same order. Apply returns
/// the key's previous value to the member that proposed the command.
/// </summary>
public sealed class ReplicatedDictionary : IStateMachine<DictionaryCommand, string?>
{
    private readonly object _lock = new();
    private Dictionary<string, string> _map = new(StringComparer.Ordinal);

    /// <summary>The value of <paramref name="key"/> on this member, null when it has none.</summary>
    public string? Get(string key)
    {
        lock (_lock)
            return _map.GetValueOrDefault(key);
    }

    public string? Apply(ulong index, DictionaryCommand command)
    {
        lock (_lock)
        {
            var previous = _map.GetValueOrDefault(command.Key);
            if (command.Value is null)
                _map.Remove(command.Key);
            else
                _map[command.Key] = command.Value;
            return previous;
        }
    }

    public byte[] TakeSnapshot()
    {
        lock (_lock)
            return JsonSerializer.SerializeToUtf8Bytes(_map);
    }

    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        var map = JsonSerializer.Deserialize<Dictionary<string, string>>(snapshot.Span) ?? [];
        lock (_lock)
            _map = new Dictionary<string, string>(map, StringComparer.Ordinal);
    }
}
