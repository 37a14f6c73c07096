/// A node's status as etcd reports it (status.go): BasicStatus, and Status with the
/// configuration and, on a leader, the progress of every peer.
namespace Raft.Core

open System.Text

/// Basic information about a node (etcd's BasicStatus).
type BasicStatus =
    { ID: uint64
      HardState: HardState
      SoftState: SoftState
      Applied: uint64
      LeadTransferee: uint64 }

/// A node's status; Progress is empty unless the node leads (etcd's Status).
type Status =
    { Basic: BasicStatus
      Config: TrackerConfig
      Progress: ProgressMap }

[<RequireQualifiedAccess>]
module Status =
    let basic (r: Raft) : BasicStatus =
        { ID = r.Id
          HardState = Raft.hardState r
          SoftState = Raft.softState r
          Applied = r.RaftLog.Applied
          LeadTransferee = r.LeadTransferee }

    let ofRaft (r: Raft) : Status =
        let b = basic r
        { Basic = b
          Config = r.Prs.Config
          Progress = if b.SoftState.RaftState = StateLeader then r.Prs.Progress else Map.empty }

    /// etcd's Status.MarshalJSON (and String()): ids in hex, progress in id order.
    let toJson (s: Status) =
        let b = s.Basic
        let sb = StringBuilder()
        sb.AppendFormat(
            "{{\"id\":\"{0:x}\",\"term\":{1},\"vote\":\"{2:x}\",\"commit\":{3},\"lead\":\"{4:x}\",\"raftState\":\"{5}\",\"applied\":{6},\"progress\":{{",
            b.ID,
            b.HardState.Term,
            b.HardState.Vote,
            b.HardState.Commit,
            b.SoftState.Lead,
            Pb.stateTypeName b.SoftState.RaftState,
            b.Applied
        )
        |> ignore
        let mutable first = true
        for KeyValue(id, pr) in s.Progress do
            if not first then sb.Append(',') |> ignore
            first <- false
            sb.AppendFormat("\"{0:x}\":{{\"match\":{1},\"next\":{2},\"state\":\"{3}\"}}", id, pr.Match, pr.Next, Progress.stateName pr.State)
            |> ignore
        sb.Append("},").AppendFormat("\"leadtransferee\":\"{0:x}\"}}", b.LeadTransferee).ToString()
