using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Raft.Interop;
using Raft.Shell.Node;
using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Hosting;

/// <summary>Registers a Raft member with Microsoft.Extensions.Hosting.</summary>
public static class RaftNodeServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="RaftNode"/> run by a hosted service, with <see cref="RaftNodeOptions"/>
    /// bound from the configuration section <c>Raft</c> (keys are the option names, e.g.
    /// <c>Raft:Name</c>, <c>Raft:InitialCluster</c>), then <paramref name="configure"/>, validated
    /// at start with every problem listed. The host must register an <see cref="IStateMachine"/>;
    /// it may register a <see cref="PeerTransportFactory"/>, a <see cref="ClusterFetcher"/> or a
    /// <see cref="PlannerFunction"/>. <see cref="IRaftNode"/> and <see cref="RaftNode"/> resolve to
    /// the running node once the host has started.
    /// </summary>
    public static IServiceCollection AddRaftNode(this IServiceCollection services, Action<RaftNodeOptions>? configure = null)
    {
        var builder = services.AddOptions<RaftNodeOptions>().BindConfiguration(RaftNodeOptions.SectionName);
        if (configure is not null)
            builder.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RaftNodeOptions>, RaftNodeOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton<RaftNodeHostedService>();
        services.AddHostedService(sp => sp.GetRequiredService<RaftNodeHostedService>());
        services.TryAddSingleton(sp => sp.GetRequiredService<RaftNodeHostedService>().Node);
        services.TryAddSingleton<IRaftNode>(sp => sp.GetRequiredService<RaftNode>());
        return services;
    }

    /// <summary>As <see cref="AddRaftNode(IServiceCollection, Action{RaftNodeOptions}?)"/>, binding the options from <paramref name="section"/>.</summary>
    public static IServiceCollection AddRaftNode(this IServiceCollection services, IConfiguration section, Action<RaftNodeOptions>? configure = null)
    {
        services.AddOptions<RaftNodeOptions>().Bind(section);
        return services.AddRaftNode(configure);
    }

    /// <summary>
    /// As <see cref="AddRaftNode(IServiceCollection, Action{RaftNodeOptions}?)"/>, with every
    /// option taken from <paramref name="options"/> (over anything bound from configuration).
    /// </summary>
    public static IServiceCollection AddRaftNode(this IServiceCollection services, RaftNodeOptions options) =>
        services.AddRaftNode(o => options.CopyTo(o));

    /// <summary>
    /// As <see cref="AddRaftNode(IServiceCollection, Action{RaftNodeOptions}?)"/> for a typed state
    /// machine: the host registers an <see cref="IStateMachine{TCommand, TResult}"/>, which the node
    /// runs through <paramref name="codec"/>, and proposes with the registered
    /// <see cref="RaftNode{TCommand, TResult}"/>, whose proposals complete with typed results.
    /// </summary>
    public static IServiceCollection AddRaftNode<TCommand, TResult>(this IServiceCollection services, ICommandCodec<TCommand> codec, Action<RaftNodeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(codec);
        services.TryAddSingleton(codec);
        services.TryAddSingleton<IStateMachine>(sp => TypedStateMachine.Create(sp.GetRequiredService<IStateMachine<TCommand, TResult>>(), codec));
        services.TryAddSingleton(sp => new RaftNode<TCommand, TResult>(sp.GetRequiredService<IRaftNode>(), codec));
        return services.AddRaftNode(configure);
    }
}
