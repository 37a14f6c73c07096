// A member of a replicated dictionary. Its options come from the command line as configuration
// keys, e.g.
//   dotnet run -- --Raft:Name=n1 --Raft:DataDir=n1.raft --Raft:ListenPeerUrls=http://127.0.0.1:12380 \
//     --Raft:InitialAdvertisePeerUrls=http://127.0.0.1:12380 \
//     --Raft:InitialCluster=n1=http://127.0.0.1:12380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380
// It reads lines from standard input: `set KEY VALUE`, `get KEY`, `del KEY`; it answers on
// standard output and logs on standard error. End of input stops it.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Shell.Hosting;
using DictionarySample;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Services.AddSingleton<ReplicatedDictionary>();
builder.Services.AddSingleton<IStateMachine<DictionaryCommand, string?>>(sp => sp.GetRequiredService<ReplicatedDictionary>());
builder.Services.AddRaftNode<DictionaryCommand, string?>(new JsonCommandCodec<DictionaryCommand>());
builder.Services.AddHostedService<CommandLoop>();
await builder.Build().RunAsync();

/// <summary>Answers the lines of standard input until it ends, then stops the host.</summary>
internal sealed class CommandLoop(RaftNodeHostedService raft, IServiceProvider services, ReplicatedDictionary dictionary, IHostApplicationLifetime lifetime)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The node starts with the host; the typed node can be resolved once it has.
        await raft.Started.WaitAsync(stoppingToken);
        var node = services.GetRequiredService<RaftNode<DictionaryCommand, string?>>();
        System.Console.WriteLine("ready");
        using var input = new StreamReader(System.Console.OpenStandardInput());
        while (await input.ReadLineAsync(stoppingToken) is { } line)
        {
            var words = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            try
            {
                switch (words)
                {
                    case ["set", var key, var value]:
                        var previous = await node.ProposeAsync(new DictionaryCommand(key, value), stoppingToken);
                        System.Console.WriteLine($"ok (was {previous ?? "nothing"})");
                        break;
                    case ["del", var key]:
                        await node.ProposeAsync(new DictionaryCommand(key, null), stoppingToken);
                        System.Console.WriteLine("ok");
                        break;
                    case ["get", var key]:
                        // A linearizable read: wait until this member has applied everything
                        // committed before now, then read its own copy.
                        await node.ReadIndexAsync(stoppingToken);
                        System.Console.WriteLine($"value {dictionary.Get(key) ?? "(none)"}");
                        break;
                    default:
                        System.Console.WriteLine("usage: set KEY VALUE | get KEY | del KEY");
                        break;
                }
            }
            catch (RaftException ex)
            {
                System.Console.WriteLine($"error {ex.Code}: {ex.Message}");
            }
        }
        lifetime.StopApplication();
    }
}
