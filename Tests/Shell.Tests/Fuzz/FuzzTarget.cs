namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// One decoder under fuzzing: valid inputs made by our own encoders, a call that decodes bytes the
/// way the node does, and the exceptions that count as a clear refusal. Any other exception, a
/// call that runs past the time bound or allocates past the allocation bound is a finding.
/// </summary>
/// <param name="Name">The decoder's name, as findings and the README name it.</param>
/// <param name="Seeds">Valid inputs the mutator starts from.</param>
/// <param name="Run">Decodes one input; returns normally on success or on a refusal it reports as a value.</param>
/// <param name="Refusals">The documented error types the decoder may throw.</param>
internal sealed record FuzzTarget(string Name, Func<IReadOnlyList<byte[]>> Seeds, Action<byte[]> Run, params Type[] Refusals)
{
    /// <summary>Inputs in CI (about 2 s on 2 shared cores); the slow decoders take fewer.</summary>
    public long CiInputs { get; init; } = 4000;

    /// <summary>Whether <paramref name="ex"/> is one of the decoder's documented refusals.</summary>
    public bool IsRefusal(Exception ex) => Refusals.Any(t => t.IsInstanceOfType(ex));

    /// <inheritdoc/>
    public override string ToString() => Name;
}
