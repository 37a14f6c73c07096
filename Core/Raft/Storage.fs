/// etcd's MemoryStorage as a value: the stable log since the last snapshot, the snapshot and the
/// hard state. Every operation returns a new storage; old values stay valid and unchanged.
namespace Raft.Core

/// Errors of storage operations (etcd's ErrCompacted, ErrUnavailable, ErrSnapOutOfDate,
/// ErrSnapshotTemporarilyUnavailable).
type StorageError =
    /// The requested index predates the last snapshot.
    | ErrCompacted
    /// The requested entries are not (yet) in the log.
    | ErrUnavailable
    /// The requested index is older than the existing snapshot.
    | ErrSnapOutOfDate
    /// The snapshot is being prepared; ask again later.
    | ErrSnapshotTemporarilyUnavailable

module StorageError =
    /// etcd's error text.
    let message =
        function
        | ErrCompacted -> "requested index is unavailable due to compaction"
        | ErrUnavailable -> "requested entry at index is unavailable"
        | ErrSnapOutOfDate -> "requested index is older than the existing snapshot"
        | ErrSnapshotTemporarilyUnavailable -> "snapshot is temporarily unavailable"

/// The stable part of the log. `Ents[0]` is a dummy entry holding the index and term of the last
/// compacted entry (the snapshot's); `Ents[k]` has log position `k + Ents[0].Index`. The entries
/// are held in chunks (EntryChunks), so that a long log appended to at one end and compacted at
/// the other never copies what it holds.
type MemoryStorage =
    private
        { hardState: HardState
          snapshot: Snapshot
          ents: EntryChunks }

    override s.ToString() =
        let first = (EntryChunks.item 0 s.ents).Index
        sprintf "MemoryStorage(first=%d, last=%d)" (first + 1UL) (first + uint64 s.ents.Count - 1UL)

[<RequireQualifiedAccess>]
module MemoryStorage =
    let private dummy (index: uint64) (term: uint64) : Entry =
        { Index = index; Term = term; Type = EntryNormal; Data = [||] }

    /// An empty storage: a dummy entry at index 0, term 0.
    let empty: MemoryStorage =
        { hardState = Pb.emptyHardState
          snapshot = Pb.emptySnapshot
          ents = EntryChunks.ofArray [| dummy 0UL 0UL |] }

    /// A storage whose log is exactly `ents`, the first of them standing for the compacted prefix
    /// (etcd's tests build `MemoryStorage{ents: ...}` so).
    let ofEntries (ents: Entry[]) : MemoryStorage =
        if ents.Length = 0 then invalidArg "ents" "a storage needs at least its dummy entry"
        { empty with ents = EntryChunks.ofArray ents }

    let private offset (s: MemoryStorage) = (EntryChunks.item 0 s.ents).Index
    let private lastIdx (s: MemoryStorage) = offset s + uint64 s.ents.Count - 1UL

    /// The saved hard state and the conf state of the snapshot (etcd's InitialState).
    let initialState (s: MemoryStorage) = s.hardState, s.snapshot.Metadata.ConfState

    let hardState (s: MemoryStorage) = s.hardState

    let setHardState (hs: HardState) (s: MemoryStorage) = { s with hardState = hs }

    /// Index of the last entry in the log.
    let lastIndex (s: MemoryStorage) = lastIdx s

    /// Index of the first entry possibly available via `entries`.
    let firstIndex (s: MemoryStorage) = offset s + 1UL

    /// The most recent snapshot.
    let snapshot (s: MemoryStorage) = s.snapshot

    /// The entries [lo, hi) as a shared sequence, limited to maxSize bytes (at least one entry).
    let entriesSeq (lo: uint64) (hi: uint64) (maxSize: uint64) (s: MemoryStorage) : Result<EntrySeq, StorageError> =
        let off = offset s
        if lo <= off then
            Error ErrCompacted
        elif hi > lastIdx s + 1UL then
            Invariant.broken (sprintf "entries' hi(%d) is out of bound lastindex(%d)" hi (lastIdx s))
        elif s.ents.Count = 1 then
            // Only the dummy entry.
            Error ErrUnavailable
        else
            Ok(s.ents |> EntryChunks.sub (int (lo - off)) (int (hi - off)) |> EntrySeq.limitSize maxSize)

    /// The entries [lo, hi), limited to maxSize bytes but at least one entry (etcd's Entries).
    let entries (lo: uint64) (hi: uint64) (maxSize: uint64) (s: MemoryStorage) : Result<Entry[], StorageError> =
        entriesSeq lo hi maxSize s |> Result.map EntrySeq.toArray

    /// The term of entry i, for i in [firstIndex-1, lastIndex].
    let term (i: uint64) (s: MemoryStorage) : Result<uint64, StorageError> =
        let off = offset s
        if i < off then Error ErrCompacted
        elif i - off >= uint64 s.ents.Count then Error ErrUnavailable
        else Ok (EntryChunks.item (int (i - off)) s.ents).Term

    /// Replaces the contents with the snapshot; ErrSnapOutOfDate unless it is newer.
    let applySnapshot (snap: Snapshot) (s: MemoryStorage) : Result<MemoryStorage, StorageError> =
        if s.snapshot.Metadata.Index >= snap.Metadata.Index then
            Error ErrSnapOutOfDate
        else
            Ok
                { s with
                    snapshot = snap
                    ents = EntryChunks.ofArray [| dummy snap.Metadata.Index snap.Metadata.Term |] }

    /// Makes a snapshot at index i (which must be in the log) with the given conf state (None keeps
    /// the current one) and data. Returns the snapshot and the storage holding it.
    let createSnapshot (i: uint64) (cs: ConfState option) (data: byte[]) (s: MemoryStorage)
        : Result<Snapshot * MemoryStorage, StorageError> =
        if i <= s.snapshot.Metadata.Index then
            Error ErrSnapOutOfDate
        elif i > lastIdx s then
            Invariant.broken (sprintf "snapshot %d is out of bound lastindex(%d)" i (lastIdx s))
        else
            let md = s.snapshot.Metadata
            let snap =
                { Data = data
                  Metadata =
                    { Index = i
                      Term = (EntryChunks.item (int (i - offset s)) s.ents).Term
                      ConfState = defaultArg cs md.ConfState } }
            Ok(snap, { s with snapshot = snap })

    /// Discards the entries before compactIndex, which becomes the dummy entry. The application must
    /// not compact beyond what it applied. No entry is copied.
    let compact (compactIndex: uint64) (s: MemoryStorage) : Result<MemoryStorage, StorageError> =
        let off = offset s
        if compactIndex <= off then
            Error ErrCompacted
        elif compactIndex > lastIdx s then
            Invariant.broken (sprintf "compact %d is out of bound lastindex(%d)" compactIndex (lastIdx s))
        else
            let i = int (compactIndex - off)
            // The entry at compactIndex becomes the dummy as it is: only its index and term are
            // ever read again, and not rebuilding it keeps compaction free of copying.
            let ents = EntryChunks.skip i s.ents
            Ok { s with ents = ents }

    /// Appends entries, truncating any existing entries from the first new index on. Entries
    /// already compacted are skipped. A gap after the last index is a broken invariant.
    let append (entries: Entry[]) (s: MemoryStorage) : MemoryStorage =
        if entries.Length = 0 then
            s
        else
            let first = firstIndex s
            let last = entries[0].Index + uint64 entries.Length - 1UL
            if last < first then
                s
            else
                // Skip what is already compacted.
                let skipped = if first > entries[0].Index then int (first - entries[0].Index) else 0
                let count = entries.Length - skipped
                let firstNew = entries[skipped].Index
                let off = firstNew - offset s
                let n = uint64 s.ents.Count
                if n > off then
                    { s with ents = s.ents |> EntryChunks.take (int off) |> EntryChunks.appendRange entries skipped count }
                elif n = off then
                    { s with ents = s.ents |> EntryChunks.appendRange entries skipped count }
                else
                    Invariant.broken (sprintf "missing log entry [last: %d, append at: %d]" (lastIdx s) firstNew)
