// A member of a replicated dictionary behind HTTP:
//   PUT /kv/{key} with the value as the body   -> the key's previous value
//   GET /kv/{key}                              -> the value (a linearizable read), 404 when none
// Options are configuration keys (command line, environment, appsettings.json), e.g.
//   dotnet run -- --urls http://127.0.0.1:8080 --Raft:Name=n1 --Raft:AdvertiseClientUrls=http://127.0.0.1:8080 ...
using DictionarySample;
using Raft.Interop;
using Raft.Shell.Hosting;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddSingleton<ReplicatedDictionary>();
builder.Services.AddSingleton<IStateMachine<DictionaryCommand, string?>>(sp => sp.GetRequiredService<ReplicatedDictionary>());
builder.Services.AddRaftNode<DictionaryCommand, string?>(new JsonCommandCodec<DictionaryCommand>());
var app = builder.Build();

// Requests arrive only once the host has started, and with it the node.
app.MapPut("/kv/{key}", async (string key, HttpRequest request, RaftNode<DictionaryCommand, string?> node, CancellationToken ct) =>
{
    using var body = new StreamReader(request.Body);
    var value = await body.ReadToEndAsync(ct);
    try
    {
        var previous = await node.ProposeAsync(new DictionaryCommand(key, value), ct);
        return Results.Text(previous ?? "");
    }
    catch (RaftException ex)
    {
        return Results.Problem(ex.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: ex.Code.ToString());
    }
});

app.MapGet("/kv/{key}", async (string key, RaftNode<DictionaryCommand, string?> node, ReplicatedDictionary dictionary, CancellationToken ct) =>
{
    try
    {
        await node.ReadIndexAsync(ct);
    }
    catch (RaftException ex)
    {
        return Results.Problem(ex.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: ex.Code.ToString());
    }
    return dictionary.Get(key) is { } value ? Results.Text(value) : Results.NotFound();
});

app.Run();
