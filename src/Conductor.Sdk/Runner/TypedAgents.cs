using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Conductor.Sdk.Ensembles;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Sdk.Runner;

/// <summary>
/// A typed agent: receives the ensemble's declared input and returns the step's declared output. The generator
/// emits one named contract per agent step (for example <c>OrderFulfilmentEnsemble.IShipOrderAgent</c>) that
/// extends this interface with the ensemble's own record types; implement that one.
/// </summary>
/// <typeparam name="TInput">The ensemble's <c>Input</c> record, or <c>JsonElement?</c> when the YAML declares no <c>input:</c>.</typeparam>
/// <typeparam name="TOutput">The step's output record, or <c>JsonElement?</c> when the step declares no <c>output:</c>.</typeparam>
public interface IAgent<in TInput, TOutput>
{
    /// <summary>
    /// Runs the agent. The returned value is the step's output (<c>${ship-order.output.trackingNumber}</c>, the
    /// <c>agent.completed</c> event's <c>data.output</c>); a required field left null fails the run with an error that
    /// names the ensemble, the step and the field. Changes to <see cref="AgentContext.State"/> are sent as
    /// <c>state.updated</c>; the token is cancelled when the ensemble's <c>timeout:</c> passes.
    /// </summary>
    ValueTask<TOutput> RunAsync(TInput input, AgentContext context, CancellationToken cancellationToken);
}

/// <summary>Registers typed agents; the generated <c>AgentRegistrations</c> methods call it.</summary>
public static class TypedAgents
{
    /// <summary>Registers <typeparamref name="TAgent"/> for agent <paramref name="agent"/> of <paramref name="ensemble"/>: its output record is checked and written as JSON.</summary>
    public static void Add<TInput, TOutput, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TAgent>(IServiceCollection services, string ensemble, string agent)
        where TOutput : class, IEnsembleData<TOutput>
        where TAgent : class, IAgent<TInput, TOutput>
    {
        var key = Key(services, ensemble, agent);
        services.AddKeyedTransient<TAgent>(key);
        services.AddKeyedTransient<IAgent>(key, static (provider, key) =>
            new Adapter<TInput, TOutput>(provider.GetRequiredKeyedService<TAgent>(key), static (output, at) => EnsembleJson.ToElement(output, at)));
    }

    /// <summary>Registers <typeparamref name="TAgent"/> for a step whose output is not declared (its JSON is passed on as returned).</summary>
    public static void AddJsonOutput<TInput, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TAgent>(IServiceCollection services, string ensemble, string agent)
        where TAgent : class, IAgent<TInput, JsonElement?>
    {
        var key = Key(services, ensemble, agent);
        services.AddKeyedTransient<TAgent>(key);
        services.AddKeyedTransient<IAgent>(key, static (provider, key) =>
            new Adapter<TInput, JsonElement?>(provider.GetRequiredKeyedService<TAgent>(key), static (output, _) => output));
    }

    /// <summary>
    /// Registers a function for agent <paramref name="agent"/> of <paramref name="ensemble"/> (small agents, fakes in
    /// tests): it runs exactly as a class implementing the agent's contract would, its output checked the same way.
    /// </summary>
    public static void AddFunction<TInput, TOutput>(IServiceCollection services, string ensemble, string agent, Func<TInput, AgentContext, CancellationToken, ValueTask<TOutput>> function)
        where TOutput : class, IEnsembleData<TOutput>
    {
        ArgumentNullException.ThrowIfNull(function);
        var key = Key(services, ensemble, agent);
        services.AddKeyedTransient<IAgent>(key, (_, _) =>
            new Adapter<TInput, TOutput>(new FunctionAgent<TInput, TOutput>(function), static (output, at) => EnsembleJson.ToElement(output, at)));
    }

    /// <summary>As <see cref="AddFunction{TInput, TOutput}(IServiceCollection, string, string, Func{TInput, AgentContext, CancellationToken, ValueTask{TOutput}})"/>, for a synchronous function.</summary>
    public static void AddFunction<TInput, TOutput>(IServiceCollection services, string ensemble, string agent, Func<TInput, AgentContext, TOutput> function)
        where TOutput : class, IEnsembleData<TOutput>
    {
        ArgumentNullException.ThrowIfNull(function);
        AddFunction<TInput, TOutput>(services, ensemble, agent, (input, context, _) => new ValueTask<TOutput>(function(input, context)));
    }

    /// <summary>As <see cref="AddJsonOutputFunction{TInput}(IServiceCollection, string, string, Func{TInput, AgentContext, CancellationToken, ValueTask{JsonElement?}})"/>, for a synchronous function.</summary>
    public static void AddJsonOutputFunction<TInput>(IServiceCollection services, string ensemble, string agent, Func<TInput, AgentContext, JsonElement?> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        AddJsonOutputFunction<TInput>(services, ensemble, agent, (input, context, _) => new ValueTask<JsonElement?>(function(input, context)));
    }

    /// <summary>Registers a function for an agent whose output is not declared (its JSON is passed on as returned).</summary>
    public static void AddJsonOutputFunction<TInput>(IServiceCollection services, string ensemble, string agent, Func<TInput, AgentContext, CancellationToken, ValueTask<JsonElement?>> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        var key = Key(services, ensemble, agent);
        services.AddKeyedTransient<IAgent>(key, (_, _) =>
            new Adapter<TInput, JsonElement?>(new FunctionAgent<TInput, JsonElement?>(function), static (output, _) => output));
    }

    private sealed class FunctionAgent<TInput, TOutput>(Func<TInput, AgentContext, CancellationToken, ValueTask<TOutput>> function) : IAgent<TInput, TOutput>
    {
        public ValueTask<TOutput> RunAsync(TInput input, AgentContext context, CancellationToken cancellationToken) => function(input, context, cancellationToken);
    }

    private static string Key(IServiceCollection services, string ensemble, string agent)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(ensemble);
        ArgumentException.ThrowIfNullOrEmpty(agent);
        return AgentStepDefinition.ServiceKey(ensemble, agent);
    }

    /// <summary>Runs a typed agent as the runner's <see cref="IAgent"/>: typed input in, output checked and turned into JSON.</summary>
    private sealed class Adapter<TInput, TOutput>(IAgent<TInput, TOutput> agent, Func<TOutput, DataLocation, JsonElement?> toJson) : IAgent
    {
        public async ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken)
        {
            var input = context.TypedInput is TInput typed ? typed : (TInput)(object?)context.Input!;
            var output = await agent.RunAsync(input, context, cancellationToken).ConfigureAwait(false);
            var at = new DataLocation(context.Ensemble, $"step '{context.Step}' output");
            if (output is null && typeof(TOutput) != typeof(JsonElement?))
            {
                throw new EnsembleDataException(at, $"agent '{context.Agent}' returned null; it must return the output the YAML declares");
            }

            return toJson(output!, at);
        }
    }
}
