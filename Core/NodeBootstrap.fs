/// How a member's Raft state begins, as pure functions over plain data (the seed's startNode,
/// restartNode and restartAsStandaloneNode, with getIDs and createConfigChangeEnts). They say what the
/// RawNode's storage starts with and what must be written to the WAL; the shell does the writing and
/// builds the node.
module Raft.Core.NodeBootstrap

/// The WAL's metadata record (etcd's etcdserverpb.Metadata).
type WalMetadata = { NodeID: uint64; ClusterID: uint64 }

/// What a MemoryStorage holds before the RawNode is built over it.
type StorageImage =
    { /// Pb.emptySnapshot when there is none.
      Snapshot: Snapshot
      HardState: HardState
      Entries: Entry[] }

/// The log raft's Bootstrap fakes for a brand-new cluster: one AddNode per peer at term 1, all
/// committed, none yet on disk (the first Ready carries them and the hard state to save).
type BootstrapLog =
    { Entries: Entry[]
      /// What the first Ready's HardState will be: Term 1, no vote, every bootstrap entry committed.
      HardState: HardState
      /// The membership once the bootstrap conf changes are applied.
      ConfState: ConfState }

/// A new member (the seed's startNode).
type NewNode =
    { /// Written by creating the WAL, before anything else.
      Metadata: WalMetadata
      /// The initial cluster; empty when this member joins an existing cluster.
      Peers: Peer list
      /// None when joining: the node then starts from an empty storage (raft.RestartNode).
      Bootstrap: BootstrapLog option }

/// A member forced to restart as a one-member cluster (the seed's restartAsStandaloneNode).
type ForcedRestart =
    { /// What the MemoryStorage starts with: every WAL entry plus the forced conf changes, with
      /// the commit index moved to the last of them.
      Storage: StorageImage
      /// What must be appended to the WAL before the node starts: the forced conf-change entries
      /// (saved with an empty hard state, as etcd does).
      WalEntries: Entry[]
      /// WAL entries past the durable commit index (see durableCommit) that are kept and now
      /// committed; etcd would have discarded them. The shell logs the count.
      KeptPastCommit: int
      /// The members found in the snapshot and the WAL (getIDs), sorted.
      MemberIDs: uint64 list }

let private confChangeEntry term index (cc: ConfChange) =
    { Term = term; Index = index; Type = EntryConfChange; Data = Codec.marshalConfChange cc }

/// raft's Bootstrap: an AddNode entry per peer (term 1, indexes from 1), all committed. A peer's
/// context is opaque to raft; etcd puts the member's JSON there. (Bootstrap.bootstrap does the same
/// to a RawNode; this is the data alone, for the shell to check or show.)
let bootstrapLog (peers: Peer list) : BootstrapLog =
    let entries =
        peers
        |> List.mapi (fun i p ->
            confChangeEntry 1UL (uint64 (i + 1)) { ID = 0UL; Type = ConfChangeAddNode; NodeID = p.ID; Context = p.Context })
        |> Array.ofList
    { Entries = entries
      HardState = { Term = 1UL; Vote = 0UL; Commit = uint64 entries.Length }
      ConfState = { Pb.emptyConfState with Voters = peers |> List.map (fun p -> p.ID) |> List.distinct |> List.sort } }

/// The seed's startNode: create the WAL with the member's metadata, then bootstrap from the initial
/// peers, or, with no peers (joining an existing cluster), start from an empty storage.
let startNode (metadata: WalMetadata) (peers: Peer list) : NewNode =
    { Metadata = metadata
      Peers = peers
      Bootstrap = if List.isEmpty peers then None else Some(bootstrapLog peers) }

/// The commit index a restart relies on. The WAL writes a commit-only hard state without a sync,
/// so it can lag behind what the member applied and acknowledged; `applied` is an index the state
/// machine holds durably (etcd's consistent index; 0 when it keeps nothing), and an applied entry
/// was committed. So the commit index is the larger of the two. A state machine ahead of every
/// entry the WAL and snapshot hold is an error: its data describes entries this log never had.
let durableCommit (snapshot: Snapshot option) (hardState: HardState) (entries: Entry[]) (applied: uint64) : Result<uint64, string> =
    if applied <= hardState.Commit then
        Ok hardState.Commit
    else
        let snapIndex = snapshot |> Option.map (fun s -> s.Metadata.Index) |> Option.defaultValue 0UL
        let last = if entries.Length = 0 then snapIndex else max snapIndex entries[entries.Length - 1].Index
        if applied > last then
            Error(sprintf "the state machine has applied index %d, past the last index %d of the WAL and snapshot" applied last)
        else
            Ok applied

/// The seed's restartNode: the storage gets the snapshot, then the hard state, then the entries
/// the WAL held after it. The commit index is raised to `applied` (see durableCommit).
let restartNode (snapshot: Snapshot option) (hardState: HardState) (entries: Entry[]) (applied: uint64) : Result<StorageImage, string> =
    durableCommit snapshot hardState entries applied
    |> Result.map (fun commit ->
        { Snapshot = defaultArg snapshot Pb.emptySnapshot
          HardState = { hardState with Commit = commit }
          Entries = entries })

/// The seed's getIDs: the voters of the snapshot, then every (v1) conf change in order: AddNode and
/// AddLearnerNode add, RemoveNode removes, UpdateNode does nothing. Sorted. A conf change that does
/// not decode is an error (etcd panics).
let getIDs (snapshot: Snapshot option) (entries: Entry[]) : Result<uint64 list, string> =
    let initial =
        match snapshot with
        | Some s -> Set.ofList s.Metadata.ConfState.Voters
        | None -> Set.empty
    let step (acc: Result<Set<uint64>, string>) (e: Entry) =
        match acc with
        | Error _ -> acc
        | Ok ids when e.Type <> EntryConfChange -> Ok ids
        | Ok ids ->
            match Codec.unmarshalConfChange e.Data with
            | Error err -> Error(sprintf "entry %d/%d: cannot decode conf change: %s" e.Term e.Index err)
            | Ok cc ->
                match cc.Type with
                | ConfChangeAddNode
                | ConfChangeAddLearnerNode -> Ok(Set.add cc.NodeID ids)
                | ConfChangeRemoveNode -> Ok(Set.remove cc.NodeID ids)
                | ConfChangeUpdateNode -> Ok ids
    Array.fold step (Ok initial) entries |> Result.map Set.toList

/// The seed's createConfigChangeEnts: conf-change entries at `term`, from `index + 1`, that add
/// `self` when it is not among `ids` (first, so the voter set is never empty) and then remove every
/// other id. `selfContext` is the AddNode's context (etcd: the member's JSON).
let createConfigChangeEnts (ids: uint64 list) (self: uint64) (selfContext: byte[]) (term: uint64) (index: uint64) : Entry[] =
    let addSelf =
        if List.contains self ids then []
        else [ { ID = 0UL; Type = ConfChangeAddNode; NodeID = self; Context = selfContext } ]
    let removeOthers =
        ids
        |> List.filter (fun id -> id <> self)
        |> List.map (fun id -> { ID = 0UL; Type = ConfChangeRemoveNode; NodeID = id; Context = [||] })
    addSelf @ removeOthers
    |> List.mapi (fun i cc -> confChangeEntry term (index + 1UL + uint64 i) cc)
    |> Array.ofList

/// The seed's restartAsStandaloneNode (--force-new-cluster): make this member the only one (add
/// self if absent, remove every other member found by getIDs) and commit those conf changes, after
/// every entry the WAL holds.
///
/// etcd discards the entries past the WAL's commit index. That index is written without an fsync
/// (a commit-only hard state needs none), so after a power cut, or a kill racing the write, it can
/// lag behind what the member applied and acknowledged, and the discard drops acknowledged entries;
/// an in-memory state machine keeps no applied index to raise it (durableCommit does that for a
/// persistent one). So every entry is kept. This is safe for acknowledged operations: the member
/// applies (and answers for) an entry only once its WAL holds it durably (the planner waits for
/// the fsync, etcd issue 14370), so every entry it applied is among these; by log matching the
/// entries are a prefix of the committed log followed by a tail that was never committed. No client
/// was told such a tail entry succeeded or failed for sure (it was never applied anywhere; its
/// proposer's wait ends at the request timeout, answered as a timeout or as no leader, or with a
/// stop: an unknown outcome; a refused proposal never reached a log), and an operation of unknown outcome may take effect at any later point, so
/// committing it now changes no answer already given. What the tail can be: entries this member
/// led or received that were never committed, or a stale tail from an old leader that a new
/// leader overwrote on the others (their committed entries are lost by any forced restart of this
/// member, by etcd's too). What changes against etcd: such entries take effect, and the forced
/// conf changes follow the last index, not the commit index.
///
/// A member the log removes (a conf change removing `self`, past the commit index too) is refused,
/// as a restart refuses a removed member: committing the removal would stop it, and dropping it
/// could drop entries the member applied in the same batch. `applied` is checked as durableCommit
/// does (never past the last entry).
let restartAsStandaloneNode
    (self: uint64)
    (selfContext: byte[])
    (snapshot: Snapshot option)
    (hardState: HardState)
    (entries: Entry[])
    (applied: uint64)
    : Result<ForcedRestart, string> =
    let removesSelf (e: Entry) =
        e.Type = EntryConfChange
        && (match Codec.unmarshalConfChange e.Data with
            | Ok cc -> cc.Type = ConfChangeRemoveNode && cc.NodeID = self
            | Error _ -> false)
    durableCommit snapshot hardState entries applied
    |> Result.bind (fun commit ->
        match Array.tryFind removesSelf entries with
        | Some e -> Error(sprintf "the log removes member %x at %d/%d; force a new cluster from another member" self e.Term e.Index)
        | None ->
            getIDs snapshot entries
            |> Result.map (fun ids ->
                let snapIndex = snapshot |> Option.map (fun s -> s.Metadata.Index) |> Option.defaultValue 0UL
                let last = if entries.Length = 0 then max snapIndex commit else entries[entries.Length - 1].Index
                let forced = createConfigChangeEnts ids self selfContext hardState.Term last
                let all = Array.append entries forced
                { Storage =
                    { Snapshot = defaultArg snapshot Pb.emptySnapshot
                      HardState = { hardState with Commit = if all.Length = 0 then last else all[all.Length - 1].Index }
                      Entries = all }
                  WalEntries = forced
                  KeptPastCommit = entries |> Array.filter (fun e -> e.Index > commit) |> Array.length
                  MemberIDs = ids }))
