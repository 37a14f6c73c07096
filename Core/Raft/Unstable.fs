/// etcd's unstable: entries and a snapshot not yet written to storage. `Entries[k]` has log
/// position `k + Offset`; Offset may be below storage's last index, in which case the next write
/// to storage truncates it.
namespace Raft.Core

[<Struct>]
type Unstable =
    { /// The incoming snapshot, if any.
      Snapshot: Snapshot option
      /// Entries not yet written to storage.
      Entries: EntrySeq
      Offset: uint64 }

[<RequireQualifiedAccess>]
module Unstable =
    let create (offset: uint64) =
        { Snapshot = None
          Entries = EntrySeq.empty
          Offset = offset }

    // The log asks these on every message; the voption forms spare it an allocation per question.

    /// The index of the first possible entry in entries, if there is a snapshot.
    let tryFirstIndex (u: Unstable) : uint64 voption =
        match u.Snapshot with
        | Some s -> ValueSome(s.Metadata.Index + 1UL)
        | None -> ValueNone

    /// The last index, if there is at least one unstable entry or a snapshot.
    let tryLastIndex (u: Unstable) : uint64 voption =
        if u.Entries.Count <> 0 then ValueSome(u.Offset + uint64 u.Entries.Count - 1UL)
        else
            match u.Snapshot with
            | Some s -> ValueSome s.Metadata.Index
            | None -> ValueNone

    /// The term of the entry at index i, if there is any.
    let tryTerm (i: uint64) (u: Unstable) : uint64 voption =
        if i < u.Offset then
            match u.Snapshot with
            | Some s when s.Metadata.Index = i -> ValueSome s.Metadata.Term
            | _ -> ValueNone
        else
            match tryLastIndex u with
            | ValueSome last when i <= last -> ValueSome u.Entries[int (i - u.Offset)].Term
            | _ -> ValueNone

    /// tryFirstIndex as an option.
    let maybeFirstIndex (u: Unstable) = Option.ofValueOption (tryFirstIndex u)

    /// tryLastIndex as an option.
    let maybeLastIndex (u: Unstable) = Option.ofValueOption (tryLastIndex u)

    /// tryTerm as an option.
    let maybeTerm (i: uint64) (u: Unstable) = Option.ofValueOption (tryTerm i u)

    /// Marks entries up to (i, t) as written to storage; they leave the unstable part when the
    /// term matches an unstable entry (not the snapshot).
    let stableTo (i: uint64) (t: uint64) (u: Unstable) =
        match tryTerm i u with
        | ValueSome gt when gt = t && i >= u.Offset ->
            { u with
                Entries = EntrySeq.skip (int (i + 1UL - u.Offset)) u.Entries
                Offset = i + 1UL }
        | _ -> u

    /// Marks the snapshot at index i as written to storage.
    let stableSnapTo (i: uint64) (u: Unstable) =
        match u.Snapshot with
        | Some s when s.Metadata.Index = i -> { u with Snapshot = None }
        | _ -> u

    let restore (s: Snapshot) (u: Unstable) =
        { Snapshot = Some s
          Entries = EntrySeq.empty
          Offset = s.Metadata.Index + 1UL }

    /// Checks u.Offset <= lo <= hi <= u.Offset + len(u.Entries).
    let private mustCheckOutOfBounds (lo: uint64) (hi: uint64) (u: Unstable) =
        if lo > hi then
            Invariant.broken (sprintf "invalid unstable.slice %d > %d" lo hi)
        let upper = u.Offset + uint64 u.Entries.Count
        if lo < u.Offset || hi > upper then
            Invariant.broken (sprintf "unstable.slice[%d,%d) out of bound [%d,%d]" lo hi u.Offset upper)

    /// The unstable entries [lo, hi).
    let slice (lo: uint64) (hi: uint64) (u: Unstable) =
        mustCheckOutOfBounds lo hi u
        EntrySeq.sub (int (lo - u.Offset)) (int (hi - u.Offset)) u.Entries

    /// Appends ents, first truncating what they replace. Returns the log line etcd writes when it
    /// replaces or truncates. (A struct pair: every appended entry goes through here.)
    let truncateAndAppendV (ents: EntrySeq) (u: Unstable) : struct (Unstable * LogLine voption) =
        let after = ents[0].Index
        if after = u.Offset + uint64 u.Entries.Count then
            // Directly after the last unstable entry.
            let entries = if u.Entries.IsEmpty then ents else EntrySeq.concat u.Entries ents
            struct ({ u with Entries = entries }, ValueNone)
        elif after <= u.Offset then
            // The log is truncated to before the unstable part: replace it.
            struct ({ u with Offset = after; Entries = ents },
                    ValueSome { Level = LogLevel.Info; Text = sprintf "replace the unstable entries from index %d" after })
        else
            // Keep [Offset, after) and append.
            struct ({ u with Entries = EntrySeq.concat (slice u.Offset after u) ents },
                    ValueSome { Level = LogLevel.Info; Text = sprintf "truncate the unstable entries before index %d" after })

    /// truncateAndAppendV with a pair and an option.
    let truncateAndAppend (ents: EntrySeq) (u: Unstable) : Unstable * LogLine option =
        let struct (u, line) = truncateAndAppendV ents u
        u, Option.ofValueOption line
