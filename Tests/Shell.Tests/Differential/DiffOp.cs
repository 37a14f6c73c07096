namespace Raft.Shell.Tests.Differential;

/// <summary>
/// One operation of the differential sequence: what it sends (for the failure message) and how it
/// runs against one server, giving that server's outcomes step by step. It runs once against each
/// server; everything it sends is fixed when it is generated, so both get the same requests.
/// </summary>
/// <param name="Kind">Its kind, for the run's tally ("put", "txn", "watch" ...).</param>
/// <param name="Text">The request(s), one line.</param>
/// <param name="RunAsync">Sends it to one server.</param>
/// <param name="CompactRevision">For a compaction, the revision it asks for.</param>
/// <param name="Known">
/// For an operation that may meet a deliberate difference (documented in the README): given etcd's and
/// raft's outcomes, null when they do not show it, else the outcomes that must still agree and why
/// the others may not.
/// </param>
internal sealed record DiffOp(
    string Kind,
    string Text,
    Func<DiffServer, Task<List<Outcome>>> RunAsync,
    long CompactRevision = 0,
    Func<List<Outcome>, List<Outcome>, (List<Outcome> Etcd, List<Outcome> Raft, string Why)?>? Known = null)
{
    public override string ToString() => $"{Kind} {Text}";
}
