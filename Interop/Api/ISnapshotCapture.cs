namespace Raft.Interop;

/// <summary>
/// Optional for an <see cref="IStateMachine"/> whose state can be captured at once and serialized
/// later (an immutable or copy-on-write state). The node then captures the state on its apply loop
/// and serializes it on another thread, as etcd clones its store when it triggers a snapshot and
/// marshals the clone in the background: applying goes on while a large state is written out.
/// </summary>
public interface ISnapshotCapture
{
    /// <summary>
    /// Captures the state as of the last applied index, quickly. The returned function serializes
    /// that captured state, exactly as <see cref="IStateMachine.TakeSnapshot"/> would have at the
    /// time of the capture; the node calls it once, on another thread, while it goes on calling
    /// <see cref="IStateMachine.Apply"/>.
    /// </summary>
    Func<byte[]> CaptureSnapshot();
}
