using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;

namespace Conductor.Sdk.Ensembles;

/// <summary>
/// The <c>Notify</c> facade every generated ensemble class exposes: one method per lifecycle event, each storing the
/// deliveries of the notifications that subscribe to it before it returns. Shared by all ensembles (the generated
/// <c>NotifyApi</c> adds only the overloads typed by the ensemble's declarations), so that a project with many
/// ensembles does not compile a copy of these methods per ensemble.
/// </summary>
/// <typeparam name="TOutput">The ensemble's generated <c>Output</c> record.</typeparam>
public abstract class EnsembleNotifier<TOutput>
    where TOutput : class, IEnsembleData<TOutput>
{
    private readonly NotificationDispatcher _dispatcher;
    private readonly TimeProvider _time;
    private readonly TimeSpan? _timeout;

    /// <summary>Creates the facade of ensemble <paramref name="ensemble"/> (its <c>timeout:</c> is <paramref name="timeout"/>).</summary>
    protected EnsembleNotifier(string ensemble, TimeSpan? timeout, NotificationDispatcher dispatcher, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(ensemble);
        ArgumentNullException.ThrowIfNull(dispatcher);
        ArgumentNullException.ThrowIfNull(time);
        Ensemble = ensemble;
        _timeout = timeout;
        _dispatcher = dispatcher;
        _time = time;
    }

    /// <summary>The ensemble's name.</summary>
    public string Ensemble { get; }

    /// <summary>Sends <c>execution.started</c>, with the run's input as JSON (<c>data.input</c>).</summary>
    public ValueTask<DispatchReceipt> ExecutionStartedAsync(string executionId, JsonElement? input = null, CancellationToken cancellationToken = default) =>
        DispatchAsync(new ExecutionStarted(Now, Ensemble, Id(executionId), input), cancellationToken);

    /// <summary>Sends <c>execution.completed</c> with the ensemble's output (<c>data.output</c>, YAML key names).</summary>
    public ValueTask<DispatchReceipt> ExecutionCompletedAsync(string executionId, TOutput output, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        var id = Id(executionId);
        var json = EnsembleJson.ToElement(output ?? throw new ArgumentNullException(nameof(output), $"ensemble '{Ensemble}': ExecutionCompletedAsync needs the output"), new DataLocation(Ensemble, "output"));
        return DispatchAsync(new ExecutionCompleted(Now, Ensemble, id, json, Milliseconds(duration)), cancellationToken);
    }

    /// <summary>Sends <c>execution.failed</c> with the exception's message and type (<c>data.error</c>).</summary>
    public ValueTask<DispatchReceipt> ExecutionFailedAsync(string executionId, Exception exception, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        var id = Id(executionId);
        var error = ErrorInfo.From(exception ?? throw new ArgumentNullException(nameof(exception), $"ensemble '{Ensemble}': ExecutionFailedAsync needs the exception"));
        return DispatchAsync(new ExecutionFailed(Now, Ensemble, id, error, Milliseconds(duration)), cancellationToken);
    }

    /// <summary>Sends <c>execution.timeout</c> (<c>data.timeout</c> is the ensemble's <c>timeout:</c>, else the duration).</summary>
    public ValueTask<DispatchReceipt> ExecutionTimeoutAsync(string executionId, TimeSpan duration, CancellationToken cancellationToken = default) =>
        DispatchAsync(new ExecutionTimedOut(Now, Ensemble, Id(executionId), Milliseconds(duration), Milliseconds(_timeout ?? duration)), cancellationToken);

    /// <summary>Sends <c>agent.completed</c> for agent <paramref name="agent"/>, with its output as JSON.</summary>
    public ValueTask<DispatchReceipt> AgentCompletedAsync(string executionId, string agent, JsonElement? output, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        var id = Id(executionId);
        if (string.IsNullOrEmpty(agent)) throw new ArgumentException($"ensemble '{Ensemble}': the agent name must not be empty", nameof(agent));
        return DispatchAsync(new AgentCompleted(Now, Ensemble, id, agent, output, Milliseconds(duration)), cancellationToken);
    }

    /// <summary>Sends <c>state.updated</c> with the run's shared state (<c>data.state</c>).</summary>
    public ValueTask<DispatchReceipt> StateUpdatedAsync(string executionId, JsonElement state, CancellationToken cancellationToken = default) =>
        DispatchAsync(new StateUpdated(Now, Ensemble, Id(executionId), state), cancellationToken);

    /// <summary>Sends <c>execution.started</c> with a declared input record, as JSON with the YAML key names.</summary>
    protected ValueTask<DispatchReceipt> ExecutionStartedAsync<TInput>(string executionId, TInput input, CancellationToken cancellationToken)
        where TInput : class, IEnsembleData<TInput>
    {
        var id = Id(executionId);
        var json = EnsembleJson.ToElement(input ?? throw new ArgumentNullException(nameof(input), $"ensemble '{Ensemble}': ExecutionStartedAsync needs the input"), new DataLocation(Ensemble, "input"));
        return DispatchAsync(new ExecutionStarted(Now, Ensemble, id, json), cancellationToken);
    }

    /// <summary>Sends <c>agent.completed</c> with a declared output record of step <paramref name="step"/>.</summary>
    protected ValueTask<DispatchReceipt> AgentCompletedAsync<TAgentOutput>(string executionId, string agent, string step, TAgentOutput output, TimeSpan duration, CancellationToken cancellationToken)
        where TAgentOutput : class, IEnsembleData<TAgentOutput>
    {
        var id = Id(executionId);
        var json = EnsembleJson.ToElement(output ?? throw new ArgumentNullException(nameof(output), $"ensemble '{Ensemble}': AgentCompletedAsync needs the output"), new DataLocation(Ensemble, $"step '{step}' output"));
        return DispatchAsync(new AgentCompleted(Now, Ensemble, id, agent, json, Milliseconds(duration)), cancellationToken);
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    private ValueTask<DispatchReceipt> DispatchAsync(ConductorEvent @event, CancellationToken cancellationToken) => _dispatcher.DispatchAsync(@event, cancellationToken);

    private string Id(string executionId) => string.IsNullOrWhiteSpace(executionId)
        ? throw new ArgumentException($"ensemble '{Ensemble}': the execution id must not be empty", nameof(executionId))
        : executionId;

    private long Milliseconds(TimeSpan duration) => duration < TimeSpan.Zero
        ? throw new ArgumentOutOfRangeException(nameof(duration), duration, $"ensemble '{Ensemble}': a duration cannot be negative")
        : (long)duration.TotalMilliseconds;
}
