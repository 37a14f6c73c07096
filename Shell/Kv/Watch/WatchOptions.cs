namespace Raft.Kv.Watch;

/// <summary>Options of the <see cref="WatcherHub"/> (etcd's watchableStore and watch server settings).</summary>
public sealed class WatchOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Kv:Watch";

    /// <summary>
    /// Most event responses a watch stream holds unsent (etcd's chanBufLen, 128): a watcher whose
    /// stream is full stops taking events from the apply path and catches up from history later.
    /// </summary>
    public int StreamBuffer { get; set; } = 128;

    /// <summary>How often unsynced watchers catch up from history (etcd's 100 ms sync loop).</summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Most revisions one catch-up step reads for a watcher (etcd's watchBatchMaxRevs, 1000).</summary>
    public int MaxRevisionsPerSync { get; set; } = 1000;

    /// <summary>How often watchers created with progress_notify get an empty response (etcd: 10 minutes).</summary>
    public TimeSpan ProgressNotifyInterval { get; set; } = TimeSpan.FromMinutes(10);

    // Most bytes of pairs one catch-up step reads (whole revisions, at least one): a watcher far
    // behind gets several responses instead of one as large as 1,000 revisions, each within the send
    // limit (AddKvService: a quarter of KvServiceOptions.MaxSendBytes, at most 1 MiB).
    internal int MaxCatchUpBytes { get; set; } = 1024 * 1024;

    // KvServiceOptions.MaxWatchesPerConnection, copied here by AddKvService (one public knob).
    internal int MaxWatchesPerConnection { get; set; }

    /// <summary>
    /// Most control answers (created, cancelled, progress) a stream holds unsent (etcd's
    /// ctrlStreamBufLen, 16): past it the stream stops reading requests until its client reads, so a
    /// client that sends creates and never reads holds at most this many answers.
    /// </summary>
    public int ControlBuffer { get; set; } = 16;
}
