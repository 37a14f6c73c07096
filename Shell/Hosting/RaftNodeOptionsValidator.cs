using Microsoft.Extensions.Options;
using Raft.Shell.Node;

namespace Raft.Shell.Hosting;

/// <summary>Checks <see cref="RaftNodeOptions"/> when the host first asks for them, with every problem in the message.</summary>
internal sealed class RaftNodeOptionsValidator : IValidateOptions<RaftNodeOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, RaftNodeOptions options)
    {
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
