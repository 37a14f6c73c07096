using Raft.Shell.Node;

namespace Raft.Shell.Transport.Tls;

/// <summary>etcd's checks of a member's TLS flags against its URLs.</summary>
internal static class NodeTlsChecks
{
    /// <summary>Every problem of <paramref name="o"/>'s TLS settings, options named by <paramref name="name"/> (<c>PeerTls:CertFile</c> style keys).</summary>
    public static IEnumerable<string> Check(RaftNodeOptions o, Func<string, string> name)
    {
        var errors = new List<string>();
        errors.AddRange(o.PeerTls.Validate(p => name($"{nameof(RaftNodeOptions.PeerTls)}:{p}")));
        errors.AddRange(o.ClientTls.Validate(p => name($"{nameof(RaftNodeOptions.ClientTls)}:{p}")));
        if (!string.IsNullOrEmpty(o.ClientTls.AllowedCn) || !string.IsNullOrEmpty(o.ClientTls.AllowedHostname))
            errors.Add($"{name($"{nameof(RaftNodeOptions.ClientTls)}:{nameof(TlsOptions.AllowedCn)}")}: allowed names apply to peers only");
        foreach (var url in RaftNodeOptions.SplitUrls(o.ListenPeerUrls))
        {
            // etcd: "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided".
            if (PeerTls.IsTlsUrl(url) && !o.PeerTls.IsEnabled)
                errors.Add($"{name(nameof(RaftNodeOptions.ListenPeerUrls))} has {url} but no peer certificate: give {name($"{nameof(RaftNodeOptions.PeerTls)}:{nameof(TlsOptions.CertFile)}")} and {name($"{nameof(RaftNodeOptions.PeerTls)}:{nameof(TlsOptions.KeyFile)}")}, or {name($"{nameof(RaftNodeOptions.PeerTls)}:{nameof(TlsOptions.AutoTls)}")}");
            else if (!PeerTls.IsTlsUrl(url) && o.PeerTls.IsEnabled)
                errors.Add($"{name(nameof(RaftNodeOptions.ListenPeerUrls))} has {url}, not https, while peer TLS is configured: peers would be refused in clear");
        }
        foreach (var url in RaftNodeOptions.SplitUrls(o.ListenClientUrls))
        {
            if (PeerTls.IsTlsUrl(url) && !o.ClientTls.IsEnabled)
                errors.Add($"{name(nameof(RaftNodeOptions.ListenClientUrls))} has {url} but no client certificate: give {name($"{nameof(RaftNodeOptions.ClientTls)}:{nameof(TlsOptions.CertFile)}")} and {name($"{nameof(RaftNodeOptions.ClientTls)}:{nameof(TlsOptions.KeyFile)}")}, or {name($"{nameof(RaftNodeOptions.ClientTls)}:{nameof(TlsOptions.AutoTls)}")}");
        }
        return errors;
    }
}
