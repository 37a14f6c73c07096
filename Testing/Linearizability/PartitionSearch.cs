using System.Diagnostics;
using System.Text;

namespace Raft.Testing.Linearizability;

/// <summary>
/// The search over one partition. The history becomes a doubly linked list of call and return
/// events in time order. The search walks it from the head: at a call it tries to let that
/// operation take effect now (the model accepts its output from the current state), and if so
/// removes the operation's two events from the list and starts again from the head; at a return it
/// has reached an operation that had to take effect already, so it undoes the last choice and tries
/// the next call after it. A configuration (set of operations taken, model state) seen before is
/// never explored twice: its outcome is already known to be a dead end.
/// </summary>
internal sealed class PartitionSearch<TState, TInput, TOutput>
{
    private readonly IModel<TState, TInput, TOutput> _model;
    private readonly string _key;
    private readonly List<(int Index, Operation<TInput, TOutput> Op)> _ops;
    private readonly CheckOptions _options;
    private readonly long _deadline;
    private readonly CancellationToken _cancellationToken;

    // Event nodes are 1..2n; 0 is the head. -1 ends the list.
    private int[] _next = [];
    private int[] _prev = [];
    private int[] _opOf = [];
    private int[] _match = [];

    public PartitionSearch(IModel<TState, TInput, TOutput> model, string key,
        List<(int, Operation<TInput, TOutput>)> ops, CheckOptions options, long deadline, CancellationToken cancellationToken)
    {
        _model = model;
        _key = key;
        _ops = ops;
        _options = options;
        _deadline = deadline;
        _cancellationToken = cancellationToken;
    }

    /// <summary>One choice on the search path; the path is a persistent list so the longest one can be kept for free.</summary>
    private sealed record Frame(int Node, TState Before, TState After, Frame? Parent, int Depth);

    /// <summary>
    /// A configuration in the cache. The taken set is stored compactly (see <see cref="Compact"/>):
    /// <see cref="Lo"/> whole words of completed operations all taken, then the words up to the
    /// last taken completed operation, then the words of the operations with an unknown outcome.
    /// </summary>
    private sealed class CacheEntry(int lo, ulong[] words, int length, TState state, int hash)
    {
        public int Lo = lo;
        public ulong[] Words = words;
        public int Length = length;
        public TState State = state;
        public int Hash = hash;
    }

    private sealed class CacheComparer(IEqualityComparer<TState> states) : IEqualityComparer<CacheEntry>
    {
        public bool Equals(CacheEntry? a, CacheEntry? b) =>
            ReferenceEquals(a, b) || (a is not null && b is not null && a.Hash == b.Hash && a.Lo == b.Lo
                && a.Words.AsSpan(0, a.Length).SequenceEqual(b.Words.AsSpan(0, b.Length)) && states.Equals(a.State, b.State));

        public int GetHashCode(CacheEntry e) => e.Hash;
    }

    // Bit positions: completed operations by call time from 0, so that the taken ones form a run of
    // whole words from the start plus a short frontier; operations with an unknown outcome (which
    // can stay untaken to the end) in words of their own after them.
    private int[] _bit = [];
    private int _completedWords;

    private void NumberBits(int n)
    {
        _bit = new int[n];
        var completed = Enumerable.Range(0, n).Where(i => !_ops[i].Op.OutcomeUnknown)
            .OrderBy(i => _ops[i].Op.Call).ThenBy(i => i).ToArray();
        for (int b = 0; b < completed.Length; b++) _bit[completed[b]] = b;
        _completedWords = (completed.Length + 63) / 64;
        int next = _completedWords * 64;
        for (int i = 0; i < n; i++)
            if (_ops[i].Op.OutcomeUnknown) _bit[i] = next++;
    }

    /// <summary>Writes the compact form of <paramref name="taken"/> to <paramref name="into"/>; returns (Lo, Length).</summary>
    private (int Lo, int Length) Compact(ulong[] taken, ulong[] into)
    {
        var completed = taken.AsSpan(0, _completedWords);
        int lo = completed.IndexOfAnyExcept(ulong.MaxValue);
        if (lo < 0) lo = _completedWords;
        int hi = completed.LastIndexOfAnyExcept(0UL);
        int len = Math.Max(0, hi - lo + 1);
        completed.Slice(lo, len).CopyTo(into);
        var unknown = taken.AsSpan(_completedWords);
        unknown.CopyTo(into.AsSpan(len));
        return (lo, len + unknown.Length);
    }

    public PartitionResult<TInput, TOutput> Run()
    {
        int n = _ops.Count;
        BuildList(n);

        // Zobrist hashing keeps the hash of the taken set up to date in O(1) per choice.
        var zobrist = new ulong[n];
        ulong z = 0x9E3779B97F4A7C15UL ^ (ulong)n;
        for (int i = 0; i < n; i++) zobrist[i] = SplitMix(ref z);

        var stateComparer = _model.StateComparer;
        var cache = new HashSet<CacheEntry>(new CacheComparer(stateComparer));
        NumberBits(n);
        int unknownCount = _ops.Count(o => o.Op.OutcomeUnknown);
        var taken = new ulong[_completedWords + (unknownCount + 63) / 64];
        var scratch = new ulong[taken.Length];
        var probe = new CacheEntry(0, scratch, 0, _model.Init(), 0);
        ulong setHash = 0;

        TState state = _model.Init();
        Frame? top = null, best = null;
        long steps = 0;
        long maxSteps = _options.MaxStepsPerPartition ?? long.MaxValue;
        int iterations = 0;
        int entry = _next[0];

        while (_next[0] != -1)
        {
            if ((++iterations & 1023) == 0)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                if (Stopwatch.GetTimestamp() > _deadline)
                    return Undecided(steps, "the time budget ran out");
            }

            int op = _opOf[entry];
            if (_match[entry] != 0)
            {
                // A call: can this operation take effect now?
                if (steps >= maxSteps)
                    return Undecided(steps, $"the budget of {maxSteps} steps ran out");
                steps++;
                var o = _ops[op].Op;
                var (ok, after) = _model.Step(state, o.Input, o.Output);
                if (ok)
                {
                    int bit = _bit[op];
                    taken[bit >> 6] |= 1UL << (bit & 63);
                    ulong h = setHash ^ zobrist[op];
                    int hash = HashCode.Combine(h, after is null ? 0 : stateComparer.GetHashCode(after));
                    (probe.Lo, probe.Length) = Compact(taken, scratch);
                    probe.State = after;
                    probe.Hash = hash;
                    if (!cache.Contains(probe))
                    {
                        cache.Add(new CacheEntry(probe.Lo, scratch.AsSpan(0, probe.Length).ToArray(), probe.Length, after, hash));
                        top = new Frame(entry, state, after, top, (top?.Depth ?? 0) + 1);
                        if (best is null || top.Depth > best.Depth) best = top;
                        setHash = h;
                        state = after;
                        Lift(entry);
                        entry = _next[0];
                        continue;
                    }
                    taken[bit >> 6] &= ~(1UL << (bit & 63));
                }
                entry = _next[entry];
            }
            else
            {
                // A return: this operation had to take effect before here. Undo the last choice.
                if (top is null) return Illegal(steps, best);
                entry = top.Node;
                int undone = _opOf[entry];
                state = top.Before;
                int undoneBit = _bit[undone];
                taken[undoneBit >> 6] &= ~(1UL << (undoneBit & 63));
                setHash ^= zobrist[undone];
                top = top.Parent;
                Unlift(entry);
                entry = _next[entry];
            }
        }

        return new PartitionResult<TInput, TOutput>(_key, CheckOutcome.Ok, n, steps, null, null);
    }

    private void BuildList(int n)
    {
        var events = new (long Time, int Kind, int Op)[2 * n];
        for (int i = 0; i < n; i++)
        {
            events[2 * i] = (_ops[i].Op.Call, 0, i);
            events[2 * i + 1] = (_ops[i].Op.Return, 1, i);
        }
        // At equal times calls come first: operations that touch at an instant count as concurrent.
        Array.Sort(events, (a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time)
            : a.Kind != b.Kind ? a.Kind.CompareTo(b.Kind) : a.Op.CompareTo(b.Op));

        int nodes = 2 * n + 1;
        _next = new int[nodes];
        _prev = new int[nodes];
        _opOf = new int[nodes];
        _match = new int[nodes];
        var callNode = new int[n];
        for (int j = 0; j < 2 * n; j++)
        {
            int node = j + 1;
            _opOf[node] = events[j].Op;
            if (events[j].Kind == 0) callNode[events[j].Op] = node;
            else _match[callNode[events[j].Op]] = node;
        }
        for (int node = 0; node < nodes; node++)
        {
            _prev[node] = node - 1;
            _next[node] = node + 1 < nodes ? node + 1 : -1;
        }
    }

    // Removes a call and its return from the list; Unlift puts them back (in the reverse order).
    private void Lift(int call)
    {
        int ret = _match[call];
        _next[_prev[call]] = _next[call];
        if (_next[call] != -1) _prev[_next[call]] = _prev[call];
        _next[_prev[ret]] = _next[ret];
        if (_next[ret] != -1) _prev[_next[ret]] = _prev[ret];
    }

    private void Unlift(int call)
    {
        int ret = _match[call];
        if (_next[ret] != -1) _prev[_next[ret]] = ret;
        _next[_prev[ret]] = ret;
        if (_next[call] != -1) _prev[_next[call]] = call;
        _next[_prev[call]] = call;
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong r = x += 0x9E3779B97F4A7C15UL;
        r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9UL;
        r = (r ^ (r >> 27)) * 0x94D049BB133111EBUL;
        return r ^ (r >> 31);
    }

    private PartitionResult<TInput, TOutput> Undecided(long steps, string reason) =>
        new(_key, CheckOutcome.Unknown, _ops.Count, steps, null, reason);

    private PartitionResult<TInput, TOutput> Illegal(long steps, Frame? best) =>
        new(_key, CheckOutcome.Illegal, _ops.Count, steps, Report(best), null);

    private ViolationReport<TInput, TOutput> Report(Frame? best)
    {
        int n = _ops.Count;
        var prefix = new List<int>();
        for (var f = best; f is not null; f = f.Parent) prefix.Add(_opOf[f.Node]);
        prefix.Reverse();
        var inPrefix = new bool[n];
        foreach (int i in prefix) inPrefix[i] = true;
        TState state = best is null ? _model.Init() : best.After;

        // The first operation to return outside the prefix had to take effect by then; those invoked
        // no later than that return are the ones that could have gone next.
        int blocking = -1;
        for (int i = 0; i < n; i++)
        {
            if (inPrefix[i]) continue;
            if (blocking < 0 || _ops[i].Op.Return < _ops[blocking].Op.Return) blocking = i;
        }
        long by = _ops[blocking].Op.Return;
        var window = Enumerable.Range(0, n).Where(i => !inPrefix[i] && _ops[i].Op.Call <= by)
            .OrderBy(i => _ops[i].Op.Call).ThenBy(i => _ops[i].Index).ToList();

        ReportedOperation<TInput, TOutput> Rep(int i) =>
            new(_ops[i].Index, _ops[i].Op, _model.Describe(_ops[i].Op.Input, _ops[i].Op.Output));

        var prefixReps = prefix.Select(Rep).ToList();
        var windowReps = window.Select(Rep).ToList();
        var blockingRep = Rep(blocking);
        string stateText = _model.DescribeState(state);

        var t = _options.DescribeTime;
        string Time(long v) => v == Operation.Never ? "never" : t(v);
        // The prefix's last operations, and any earlier one still running when the blocking one was
        // invoked: those are the ones a different order could have moved after it.
        long blockingCall = _ops[blocking].Op.Call;
        int firstShown = prefixReps.Count - Math.Max(0, _options.PrefixShown);
        var shownAt = Enumerable.Range(0, prefixReps.Count)
            .Where(i => i >= firstShown || prefixReps[i].Operation.Return >= blockingCall).ToList();
        var shown = shownAt.Select(i => prefixReps[i]).ToList();
        var rows = shown.Concat(windowReps).ToList();
        int wIndex = rows.Select(r => r.Index.ToString().Length).DefaultIfEmpty(1).Max() + 1;
        int wClient = rows.Select(r => r.Operation.Client.ToString().Length).DefaultIfEmpty(1).Max();
        int wCall = rows.Select(r => Time(r.Operation.Call).Length).DefaultIfEmpty(1).Max();
        int wRet = rows.Select(r => Time(r.Operation.Return).Length).DefaultIfEmpty(1).Max();
        string Row(ReportedOperation<TInput, TOutput> r) =>
            $"  {("#" + r.Index).PadRight(wIndex)}  client {r.Operation.Client.ToString().PadLeft(wClient)}  " +
            $"[{Time(r.Operation.Call).PadLeft(wCall)} .. {Time(r.Operation.Return).PadRight(wRet)}]  {r.Description}";

        var b = new StringBuilder();
        b.AppendLine($"Partition \"{_key}\" is not linearizable ({n} operations).");
        if (prefixReps.Count == 0)
        {
            b.AppendLine($"No operation can take effect first; the state is {stateText}.");
        }
        else
        {
            b.Append($"Longest linearizable prefix found: {prefixReps.Count} of {n} operations");
            b.AppendLine(shown.Count < prefixReps.Count
                ? $"; the last ones and those overlapping #{blockingRep.Index}, in the order they take effect:"
                : ", in the order they take effect:");
            int previous = -1;
            foreach (int at in shownAt)
            {
                if (at > previous + 1) b.AppendLine($"  ... {at - previous - 1} more");
                b.AppendLine(Row(prefixReps[at]));
                previous = at;
            }
            b.AppendLine($"State after it: {stateText}.");
        }
        b.AppendLine(by == Operation.Never
            ? "Only operations with an unknown outcome remain, and none of them fits that state:"
            : $"#{blockingRep.Index} returned at {Time(by)}, so it or an operation invoked by then must take effect next, " +
              "but none of them fits that state:");
        foreach (int i in window)
        {
            var r = Rep(i);
            var (ok, after) = _model.Step(state, r.Operation.Input, r.Operation.Output);
            b.Append(Row(r));
            // Every one should be rejected (a fitting one would have made the prefix longer); say so if not.
            b.AppendLine(ok ? $"   (fits, giving {_model.DescribeState(after)}, but leads to a dead end)" : "");
        }
        return new ViolationReport<TInput, TOutput>(_key, n, prefixReps, stateText, blockingRep, windowReps, b.ToString());
    }
}
