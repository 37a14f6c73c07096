/// The parameters of a Raft node (etcd's raft.Config), without the storage and the logger: the
/// storage is a value handed to `RawNode.create`, and log lines are returned as data.
namespace Raft.Core

type Config =
    { /// This node's id; never 0.
      ID: uint64
      /// Ticks a follower waits without hearing from a leader before campaigning. Must be greater
      /// than HeartbeatTick; 10 * HeartbeatTick is a good choice.
      ElectionTick: int
      /// Ticks between a leader's heartbeats.
      HeartbeatTick: int
      /// The last applied index when restarting; entries up to it are not handed out again.
      Applied: uint64
      /// Byte limit of each append message; 0 means at most one entry per message,
      /// UInt64.MaxValue means no limit.
      MaxSizePerMsg: uint64
      /// Byte limit of the committed entries of one Ready; 0 means MaxSizePerMsg.
      MaxCommittedSizePerReady: uint64
      /// Byte limit of the uncommitted tail a leader accepts proposals into; 0 means no limit.
      MaxUncommittedEntriesSize: uint64
      /// Most append messages in flight to one follower while replicating.
      MaxInflightMsgs: int
      /// A leader steps down when a quorum was not active for an election timeout.
      CheckQuorum: bool
      /// Run the Pre-Vote phase before an election (Raft thesis 9.6).
      PreVote: bool
      /// How ReadIndex requests are served; ReadOnlyLeaseBased needs CheckQuorum.
      ReadOnlyOption: ReadOnlyOption
      /// Followers drop proposals instead of forwarding them to the leader.
      DisableProposalForwarding: bool
      /// Seed of the generator of randomized election timeouts; None derives it from ID, so a
      /// cluster replays exactly from its configs.
      Seed: uint64 option }

[<RequireQualifiedAccess>]
module Config =
    /// A config with etcd's usual settings for `id`: election 10 ticks, heartbeat 1 tick, 1 MiB
    /// messages, 256 messages in flight, no uncommitted limit.
    let defaults (id: uint64) =
        { ID = id
          ElectionTick = 10
          HeartbeatTick = 1
          Applied = 0UL
          MaxSizePerMsg = 1024UL * 1024UL
          MaxCommittedSizePerReady = 0UL
          MaxUncommittedEntriesSize = 0UL
          MaxInflightMsgs = 256
          CheckQuorum = false
          PreVote = false
          ReadOnlyOption = ReadOnlySafe
          DisableProposalForwarding = false
          Seed = None }

    /// Checks the config as etcd does and fills in the defaults of zero limits; the error text is
    /// etcd's.
    let validate (c: Config) : Result<Config, string> =
        if c.ID = 0UL then Error "cannot use none as id"
        elif c.HeartbeatTick <= 0 then Error "heartbeat tick must be greater than 0"
        elif c.ElectionTick <= c.HeartbeatTick then Error "election tick must be greater than heartbeat tick"
        elif c.MaxInflightMsgs <= 0 then Error "max inflight messages must be greater than 0"
        elif c.ReadOnlyOption = ReadOnlyLeaseBased && not c.CheckQuorum then
            Error "CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased"
        else
            Ok
                { c with
                    MaxUncommittedEntriesSize =
                        if c.MaxUncommittedEntriesSize = 0UL then System.UInt64.MaxValue else c.MaxUncommittedEntriesSize
                    MaxCommittedSizePerReady =
                        if c.MaxCommittedSizePerReady = 0UL then c.MaxSizePerMsg else c.MaxCommittedSizePerReady }
