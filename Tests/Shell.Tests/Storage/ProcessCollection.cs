namespace Raft.Shell.Tests.Storage;

/// <summary>
/// Tests that start other processes and load the disk hard run alone: a fork copies this
/// process's open (locked) files until the child execs, and their fsync storm would slow others.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "processes";
}
