using System.Text.Json;

namespace Raft.Interop;

/// <summary>
/// Commands as UTF-8 JSON (System.Text.Json): an easy start for records of plain values. Give it
/// the same <see cref="JsonSerializerOptions"/> on every member.
/// </summary>
/// <typeparam name="TCommand">The command type.</typeparam>
public sealed class JsonCommandCodec<TCommand>(JsonSerializerOptions? options = null) : ICommandCodec<TCommand>
{
    private readonly JsonSerializerOptions _options = options ?? JsonSerializerOptions.Default;

    /// <inheritdoc/>
    public byte[] Encode(TCommand command) => JsonSerializer.SerializeToUtf8Bytes(command, _options);

    /// <inheritdoc/>
    public TCommand Decode(ReadOnlyMemory<byte> data) =>
        JsonSerializer.Deserialize<TCommand>(data.Span, _options)
        ?? throw new JsonException($"a log entry decoded to null, not a {typeof(TCommand).Name}");
}
