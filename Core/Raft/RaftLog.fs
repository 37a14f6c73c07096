/// etcd's raftLog: the stable log (MemoryStorage) plus the unstable tail, with the committed and
/// applied cursors. Operations return new values; the few that log return etcd's log lines.
namespace Raft.Core

type RaftLog =
    { /// All stable entries since the last snapshot.
      Storage: MemoryStorage
      /// Entries and snapshot not yet written to storage.
      Unstable: Unstable
      /// Highest log position known to be in stable storage on a quorum.
      Committed: uint64
      /// Highest log position the application was told to apply. Applied <= Committed.
      Applied: uint64
      /// Byte limit of the entries one Ready hands out for applying.
      MaxNextEntsSize: uint64 }

[<RequireQualifiedAccess>]
module RaftLog =
    /// No size limit.
    [<Literal>]
    let NoLimit = System.UInt64.MaxValue

    let private info text = { Level = LogLevel.Info; Text = text }

    /// A log over the storage, committed and applied at the storage's first index - 1.
    let newLogWithSize (storage: MemoryStorage) (maxNextEntsSize: uint64) =
        let firstIndex = MemoryStorage.firstIndex storage
        let lastIndex = MemoryStorage.lastIndex storage
        { Storage = storage
          Unstable = Unstable.create (lastIndex + 1UL)
          Committed = firstIndex - 1UL
          Applied = firstIndex - 1UL
          MaxNextEntsSize = maxNextEntsSize }

    let newLog (storage: MemoryStorage) = newLogWithSize storage NoLimit

    /// etcd's raftLog.String().
    let describe (l: RaftLog) =
        sprintf
            "committed=%d, applied=%d, unstable.offset=%d, len(unstable.Entries)=%d"
            l.Committed
            l.Applied
            l.Unstable.Offset
            l.Unstable.Entries.Count

    let firstIndex (l: RaftLog) =
        match Unstable.tryFirstIndex l.Unstable with
        | ValueSome i -> i
        | ValueNone -> MemoryStorage.firstIndex l.Storage

    let lastIndex (l: RaftLog) =
        match Unstable.tryLastIndex l.Unstable with
        | ValueSome i -> i
        | ValueNone -> MemoryStorage.lastIndex l.Storage

    /// term's general case.
    let private termChecked (i: uint64) (l: RaftLog) : Result<uint64, StorageError> =
        if i < firstIndex l - 1UL || i > lastIndex l then
            Ok 0UL
        else
            match Unstable.tryTerm i l.Unstable with
            | ValueSome t -> Ok t
            | ValueNone ->
                match MemoryStorage.term i l.Storage with
                | Ok t -> Ok t
                | Error(ErrCompacted | ErrUnavailable as e) -> Error e
                | Error e -> Invariant.broken (StorageError.message e)

    /// The term of entry i; 0 outside [firstIndex-1, lastIndex]; ErrCompacted or ErrUnavailable
    /// when storage cannot tell.
    let term (i: uint64) (l: RaftLog) : Result<uint64, StorageError> =
        let u = l.Unstable
        // The common questions first, each of which would pass termChecked's bounds: an unstable
        // entry, then (with no unstable snapshot) a stable entry below the unstable ones.
        if i >= u.Offset && i - u.Offset < uint64 u.Entries.Count then
            Ok u.Entries[int (i - u.Offset)].Term
        elif u.Snapshot.IsNone && i < u.Offset then
            match MemoryStorage.term i l.Storage with
            | Ok t -> Ok t
            | Error _ -> termChecked i l
        else
            termChecked i l

    let zeroTermOnErrCompacted (t: Result<uint64, StorageError>) =
        match t with
        | Ok t -> t
        | Error ErrCompacted -> 0UL
        | Error e -> Invariant.broken (sprintf "unexpected error (%s)" (StorageError.message e))

    let lastTerm (l: RaftLog) =
        match term (lastIndex l) l with
        | Ok t -> t
        | Error e -> Invariant.broken (sprintf "unexpected error when getting the last term (%s)" (StorageError.message e))

    let matchTerm (i: uint64) (t: uint64) (l: RaftLog) =
        match term i l with
        | Ok t' -> t' = t
        | Error _ -> false

    /// Whether (lasti, t) is at least as up to date as this log's last entry.
    let isUpToDate (lasti: uint64) (t: uint64) (l: RaftLog) =
        let lt = lastTerm l
        t > lt || (t = lt && lasti >= lastIndex l)

    /// The index of the first entry of ents that conflicts with the log (same index, other term) or
    /// is new; 0 when the log already holds them all. Logs a found conflict as etcd does.
    let findConflictV (ents: EntrySeq) (l: RaftLog) : struct (uint64 * LogLine list) =
        let span = ents.AsSpan()
        let mutable result = 0UL
        let mutable line = []
        let mutable k = 0
        while result = 0UL && k < span.Length do
            let ne = span[k]
            if not (matchTerm ne.Index ne.Term l) then
                if ne.Index <= lastIndex l then
                    line <-
                        [ info (
                              sprintf
                                  "found conflict at index %d [existing term: %d, conflicting term: %d]"
                                  ne.Index
                                  (zeroTermOnErrCompacted (term ne.Index l))
                                  ne.Term
                          ) ]
                result <- ne.Index
            k <- k + 1
        struct (result, line)

    /// findConflictV as a pair.
    let findConflict (ents: EntrySeq) (l: RaftLog) : uint64 * LogLine list =
        let struct (i, lines) = findConflictV ents l
        i, lines

    /// The largest index in the log with a term <= `t` and an index <= `index` (the log's first
    /// index - 1 when there is none). `index` above the last index is answered with itself and a
    /// warning.
    let findConflictByTerm (index: uint64) (t: uint64) (l: RaftLog) : uint64 * LogLine list =
        let li = lastIndex l
        if index > li then
            index,
            [ { Level = LogLevel.Warn
                Text = sprintf "index(%d) is out of range [0, lastIndex(%d)] in findConflictByTerm" index li } ]
        else
            let mutable i = index
            let mutable fin = false
            while not fin do
                match term i l with
                | Ok lt when lt > t -> i <- i - 1UL
                | _ -> fin <- true
            i, []

    /// Entries not yet written to storage.
    let unstableEntries (l: RaftLog) = l.Unstable.Entries

    let hasPendingSnapshot (l: RaftLog) =
        match l.Unstable.Snapshot with
        | Some s -> not (Pb.isEmptySnap s)
        | None -> false

    /// The most recent snapshot: the unstable one, else storage's.
    let snapshot (l: RaftLog) =
        match l.Unstable.Snapshot with
        | Some s -> s
        | None -> MemoryStorage.snapshot l.Storage

    let private mustCheckOutOfBounds (lo: uint64) (hi: uint64) (l: RaftLog) : Result<unit, StorageError> =
        if lo > hi then
            Invariant.broken (sprintf "invalid slice %d > %d" lo hi)
        let fi = firstIndex l
        if lo < fi then
            Error ErrCompacted
        else
            let length = lastIndex l + 1UL - fi
            if hi > fi + length then
                Invariant.broken (sprintf "slice[%d,%d) out of bound [%d,%d]" lo hi fi (lastIndex l))
            Ok()

    /// The entries [lo, hi), limited to maxSize bytes (at least one entry).
    let slice (lo: uint64) (hi: uint64) (maxSize: uint64) (l: RaftLog) : Result<EntrySeq, StorageError> =
        match mustCheckOutOfBounds lo hi l with
        | Error e -> Error e
        | Ok() when lo = hi -> Ok EntrySeq.empty
        | Ok() ->
            let offset = l.Unstable.Offset
            let stored =
                if lo < offset then
                    let shi = min hi offset
                    match MemoryStorage.entriesSeq lo shi maxSize l.Storage with
                    | Ok ents -> Ok ents
                    | Error ErrCompacted -> Error ErrCompacted
                    | Error ErrUnavailable -> Invariant.broken (sprintf "entries[%d:%d) is unavailable from storage" lo shi)
                    | Error e -> Invariant.broken (StorageError.message e)
                else
                    Ok EntrySeq.empty
            match stored with
            | Error e -> Error e
            | Ok stored when lo < offset && uint64 stored.Count < min hi offset - lo ->
                // Storage already hit the size limit.
                Ok stored
            | Ok stored ->
                if hi > offset then
                    let unstable = Unstable.slice (max lo offset) hi l.Unstable
                    let ents = if stored.IsEmpty then unstable else EntrySeq.concat stored unstable
                    Ok(EntrySeq.limitSize maxSize ents)
                else
                    Ok(EntrySeq.limitSize maxSize stored)

    /// The entries from i to the end, limited to maxSize bytes.
    let entries (i: uint64) (maxSize: uint64) (l: RaftLog) : Result<EntrySeq, StorageError> =
        if i > lastIndex l then Ok EntrySeq.empty else slice i (lastIndex l + 1UL) maxSize l

    /// Where `entries i maxSize` would find its answer when all of [i, lastIndex] is unstable:
    /// the position of entry i among the unstable entries and how many fit in maxSize bytes (at
    /// least one). ValueNone when part of it is stable, or there is nothing from i on.
    let unstableRunFrom (i: uint64) (maxSize: uint64) (l: RaftLog) : struct (int * int) voption =
        let u = l.Unstable
        let n = u.Entries.Count
        if i >= u.Offset && i - u.Offset < uint64 n && i >= firstIndex l then
            let span = u.Entries.AsSpan()
            let start = int (i - u.Offset)
            if start + 1 = n then
                ValueSome(struct (start, 1))
            else
                // EntrySeq.limitSize over [start, n).
                let mutable size = uint64 (Codec.entrySize span[start])
                let mutable count = 1
                let mutable stop = false
                while not stop && start + count < n do
                    size <- size + uint64 (Codec.entrySize span[start + count])
                    if size > maxSize then stop <- true else count <- count + 1
                ValueSome(struct (start, count))
        else
            ValueNone

    /// Every entry in the log.
    let allEntries (l: RaftLog) =
        match entries (firstIndex l) NoLimit l with
        | Ok ents -> ents
        | Error e -> Invariant.broken (StorageError.message e)

    /// Committed entries not yet applied (from the snapshot on, if applied is below it), limited
    /// to MaxNextEntsSize bytes.
    let nextEnts (l: RaftLog) : EntrySeq =
        let off = max (l.Applied + 1UL) (firstIndex l)
        if l.Committed + 1UL > off then
            match slice off (l.Committed + 1UL) l.MaxNextEntsSize l with
            | Ok ents -> ents
            | Error e -> Invariant.broken (sprintf "unexpected error when getting unapplied entries (%s)" (StorageError.message e))
        else
            EntrySeq.empty

    /// Whether there are committed entries to apply (without slicing them).
    let hasNextEnts (l: RaftLog) =
        let off = max (l.Applied + 1UL) (firstIndex l)
        l.Committed + 1UL > off

    /// Raises the commit index (never lowers it); committing beyond the last index is a broken
    /// invariant.
    let commitTo (tocommit: uint64) (l: RaftLog) =
        if l.Committed < tocommit then
            if lastIndex l < tocommit then
                Invariant.broken (
                    sprintf
                        "tocommit(%d) is out of range [lastIndex(%d)]. Was the raft log corrupted, truncated, or lost?"
                        tocommit
                        (lastIndex l)
                )
            { l with Committed = tocommit }
        else
            l

    let appliedTo (i: uint64) (l: RaftLog) =
        if i = 0UL then
            l
        elif l.Committed < i || i < l.Applied then
            Invariant.broken (sprintf "applied(%d) is out of range [prevApplied(%d), committed(%d)]" i l.Applied l.Committed)
        else
            { l with Applied = i }

    let stableTo (i: uint64) (t: uint64) (l: RaftLog) =
        { l with Unstable = Unstable.stableTo i t l.Unstable }

    let stableSnapTo (i: uint64) (l: RaftLog) =
        { l with Unstable = Unstable.stableSnapTo i l.Unstable }

    // The V forms return struct pairs and voptions: a node appends on every proposal and every
    // MsgApp, and the plain forms' tuples were a good part of what that cost.

    /// Appends entries after the committed prefix, with the log line of a truncation, if any.
    let appendV (ents: EntrySeq) (l: RaftLog) : struct (RaftLog * LogLine list) =
        if ents.IsEmpty then
            struct (l, [])
        else
            let after = ents[0].Index - 1UL
            if after < l.Committed then
                Invariant.broken (sprintf "after(%d) is out of range [committed(%d)]" after l.Committed)
            match Unstable.truncateAndAppendV ents l.Unstable with
            | struct (u, ValueNone) -> struct ({ l with Unstable = u }, [])
            | struct (u, ValueSome line) -> struct ({ l with Unstable = u }, [ line ])

    /// appendV of entries the log may keep as they are (the caller never changes the array).
    /// Entries that follow the unstable ones are added to them directly.
    let appendArrayV (ents: Entry[]) (l: RaftLog) : struct (RaftLog * LogLine list) =
        let u = l.Unstable
        if ents.Length > 0
           && not u.Entries.IsEmpty
           && ents[0].Index = u.Offset + uint64 u.Entries.Count
           && ents[0].Index - 1UL >= l.Committed then
            struct ({ l with Unstable = { u with Entries = EntrySeq.appendRange ents 0 ents.Length u.Entries } }, [])
        else
            appendV (EntrySeq.ofOwnedArray ents) l

    /// appendV as a pair.
    let append (ents: EntrySeq) (l: RaftLog) : RaftLog * LogLine list =
        let struct (l, lines) = appendV ents l
        l, lines

    /// etcd's maybeAppend: if the log matches (index, logTerm), appends what of ents is new or
    /// conflicting and commits up to min(committed, last new index). ValueNone when it does not
    /// match.
    let maybeAppendV (index: uint64) (logTerm: uint64) (committed: uint64) (ents: EntrySeq) (l: RaftLog)
        : (struct (RaftLog * uint64 * LogLine list)) voption =
        if not (matchTerm index logTerm l) then
            ValueNone
        else
            let lastnewi = index + uint64 ents.Count
            let struct (ci, lines) = findConflictV ents l
            let struct (l, lines) =
                if ci = 0UL then
                    struct (l, lines)
                elif ci <= l.Committed then
                    Invariant.broken (sprintf "entry %d conflict with committed entry [committed(%d)]" ci l.Committed)
                else
                    let offset = index + 1UL
                    let struct (l, more) = appendV (EntrySeq.skip (int (ci - offset)) ents) l
                    struct (l, (if more.IsEmpty then lines else lines @ more))
            ValueSome(struct (commitTo (min committed lastnewi) l, lastnewi, lines))

    /// maybeAppendV over a message's entries, which the log then shares (a message is a value:
    /// its array never changes). The usual case, entries that all follow the last one, is
    /// appended directly: there is nothing to compare, and the log is copied once.
    let maybeAppendArrayV (index: uint64) (logTerm: uint64) (committed: uint64) (ents: Entry[]) (l: RaftLog)
        : (struct (RaftLog * uint64 * LogLine list)) voption =
        let u = l.Unstable
        if ents.Length > 0
           && index = lastIndex l
           && ents[0].Index = index + 1UL
           && ents[0].Term <> 0UL // (a term-0 entry past the end would match term 0 there)
           && u.Offset + uint64 u.Entries.Count = index + 1UL
           && index >= l.Committed
           && matchTerm index logTerm l then
            let entries =
                if u.Entries.IsEmpty then EntrySeq.ofOwnedArray ents
                else EntrySeq.appendRange ents 0 ents.Length u.Entries
            let lastnewi = index + uint64 ents.Length
            // commitTo's rule; the new last index is lastnewi.
            let tocommit = min committed lastnewi
            let l = { l with Unstable = { u with Entries = entries }; Committed = max l.Committed tocommit }
            ValueSome(struct (l, lastnewi, []))
        else
            maybeAppendV index logTerm committed (EntrySeq.ofOwnedArray ents) l

    /// maybeAppendV with a triple and an option.
    let maybeAppend (index: uint64) (logTerm: uint64) (committed: uint64) (ents: EntrySeq) (l: RaftLog)
        : (RaftLog * uint64 * LogLine list) option =
        match maybeAppendV index logTerm committed ents l with
        | ValueSome(struct (l, i, lines)) -> Some(l, i, lines)
        | ValueNone -> None

    /// Commits up to maxIndex if the entry there is from term t; None when nothing changed.
    let maybeCommit (maxIndex: uint64) (t: uint64) (l: RaftLog) : RaftLog option =
        if maxIndex > l.Committed && zeroTermOnErrCompacted (term maxIndex l) = t then
            Some(commitTo maxIndex l)
        else
            None

    /// Restores the log to the snapshot (committed at its index, unstable replaced).
    let restore (s: Snapshot) (l: RaftLog) : RaftLog * LogLine =
        let line =
            info (
                sprintf
                    "log [%s] starts to restore snapshot [index: %d, term: %d]"
                    (describe l)
                    s.Metadata.Index
                    s.Metadata.Term
            )
        { l with
            Committed = s.Metadata.Index
            Unstable = Unstable.restore s l.Unstable },
        line
