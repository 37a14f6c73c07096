using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// Planners that break the seed's rules on purpose, for <c>raft serve</c> to load through
/// <c>RAFT_PLANNER</c>, so that the end-to-end tests can show they catch what these break.
/// </summary>
public static class BrokenPlanners
{
    /// <summary><c>RAFT_PLANNER</c>'s value for <paramref name="method"/> of this class.</summary>
    internal static string Spec(string method) => $"{typeof(BrokenPlanners).Assembly.Location}:{typeof(BrokenPlanners).FullName}.{method}";

    /// <summary>
    /// etcd 3.5.4's order, before the fix for issue 14370: without the overlap rule
    /// (shouldWaitWALSync), a one-member cluster hands its committed entries to the apply loop,
    /// which answers the client, before the same entries are saved to the WAL. The rule is dropped
    /// for Readys that commit a client's command; the member's own entries (bootstrap, no-op,
    /// publish) keep Core's order, so the member can start with <c>raftBeforeSave</c> armed and
    /// the first crash happens under a client's write. The moved save names the failpoint 3.5.4 had
    /// there, raftBeforeSave (Core's order names the save ahead of apply raftBeforeSaveWaitWalSync).
    /// </summary>
    public static Plan ApplyBeforeSave(PlanInput input, PlannerState state)
    {
        var plan = Planner.plan(input, state);
        if (!input.Ready.CommittedEntries.Any(e => e.Type.IsEntryNormal && EntryData.Parse(e.Data).Kind == EntryKind.Command))
            return plan;
        var effects = plan.Effects.ToList();
        var save = effects.FindIndex(e => e.IsSave);
        var apply = effects.FindIndex(e => e.IsApply);
        if (save < 0 || save > apply)
            return plan;
        // Moved after the apply, the save is where 3.5.4 had it, behind its one site: raftBeforeSave.
        var moved = (Effect.Save)effects[save];
        effects.RemoveAt(save);
        effects.Insert(effects.FindIndex(e => e.IsApply) + 1,
            Effect.NewSave(moved.hardState, moved.entries, moved.mustSync, Guards.save(GofailSite.RaftBeforeSave)));
        return new Plan(ListModule.OfSeq(effects), plan.State);
    }
}
