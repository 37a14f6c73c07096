namespace Raft.Shell.Transport.Tls;

/// <summary>A certificate, key or revocation list file that cannot be used; the message names it.</summary>
public sealed class TlsFileException(string message, Exception? inner = null) : IOException(message, inner);
