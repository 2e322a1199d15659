using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conductor.Sdk.Runner;

/// <summary>How a run ended.</summary>
public enum ExecutionStatus
{
    /// <summary>Every step ran (or was skipped by its condition); <c>execution.completed</c> was sent.</summary>
    Completed,
    /// <summary>A step threw; <c>execution.failed</c> was sent.</summary>
    Failed,
    /// <summary>The ensemble's <c>timeout:</c> passed; <c>execution.timeout</c> was sent.</summary>
    TimedOut,
}

/// <summary>The result of <c>RunAsync</c>.</summary>
/// <param name="ExecutionId">The run's id, as sent in its events.</param>
/// <param name="Status">How it ended.</param>
/// <param name="Output">The typed output when it completed, else default.</param>
/// <param name="Error">The error when it failed or timed out.</param>
/// <param name="Duration">How long it ran.</param>
/// <param name="ExecutedSteps">The steps that ran, in order (skipped steps are absent).</param>
public sealed record ExecutionResult<TOutput>(string ExecutionId, ExecutionStatus Status, TOutput? Output, ErrorInfo? Error, TimeSpan Duration, IReadOnlyList<string> ExecutedSteps);

/// <summary>
/// Runs compiled flows: steps in order, conditions, agents from DI, operation steps through the durable delivery
/// queue, outputs, the timeout, and every lifecycle event through the same dispatcher as <c>Notify</c>.
/// Generated ensemble classes call it from their <c>RunAsync</c>.
/// </summary>
public sealed partial class EnsembleRunner
{
    private readonly NotificationDispatcher _dispatcher;
    private readonly EnsembleEnvironment _environment;
    private readonly IServiceScopeFactory _scopes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Diagnostics.ConductorTelemetry _telemetry;

    /// <summary>Creates the runner (a singleton registered by <c>AddConductor</c>).</summary>
    public EnsembleRunner(
        NotificationDispatcher dispatcher,
        EnsembleEnvironment environment,
        IServiceScopeFactory scopes,
        TimeProvider time,
        Diagnostics.ConductorTelemetry telemetry,
        ILogger<EnsembleRunner>? logger = null)
    {
        _telemetry = telemetry;
        _dispatcher = dispatcher;
        _environment = environment;
        _scopes = scopes;
        _time = time;
        _logger = logger ?? NullLogger<EnsembleRunner>.Instance;
    }

    /// <summary>
    /// Runs a flow once. Never throws for a failing step or a timeout: those end the run with <c>execution.failed</c> or
    /// <c>execution.timeout</c> and are described by the result. Cancelling <paramref name="cancellationToken"/>
    /// sends <c>execution.failed</c> and then throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public Task<ExecutionResult<TOutput>> RunAsync<TOutput>(
        FlowDefinition flow,
        JsonElement? input,
        OutputFactory<TOutput> outputs,
        Func<TOutput, JsonElement> toJson,
        CancellationToken cancellationToken = default) =>
        RunCoreAsync(flow, input, () => (input?.Clone(), null), outputs, toJson, cancellationToken);

    /// <summary>
    /// Runs a flow whose ensemble declares <c>input:</c>, with the typed input. A required field left null fails the
    /// run (<c>execution.failed</c>) with an error naming the ensemble and the field.
    /// </summary>
    public Task<ExecutionResult<TOutput>> RunAsync<TInput, TOutput>(
        FlowDefinition flow,
        TInput input,
        OutputFactory<TOutput> outputs,
        Func<TOutput, JsonElement> toJson,
        CancellationToken cancellationToken = default)
        where TInput : class, IEnsembleData<TInput> =>
        RunCoreAsync(flow, null, () => (EnsembleJson.ToElement(input, new DataLocation(flow.Ensemble, "input")), input), outputs, toJson, cancellationToken);

    /// <summary>
    /// Runs a flow whose ensemble declares <c>input:</c>, with input received as JSON (from a queue or an HTTP body):
    /// it is read into the declared record first, and input that does not match fails the run
    /// (<c>execution.failed</c>) with an error naming the ensemble and the field.
    /// </summary>
    public Task<ExecutionResult<TOutput>> RunJsonAsync<TInput, TOutput>(
        FlowDefinition flow,
        JsonElement input,
        OutputFactory<TOutput> outputs,
        Func<TOutput, JsonElement> toJson,
        CancellationToken cancellationToken = default)
        where TInput : class, IEnsembleData<TInput> =>
        RunCoreAsync(flow, input, () =>
        {
            // Read into the record and written back, so that the run's JSON is exactly the declared shape.
            var at = new DataLocation(flow.Ensemble, "input");
            var typed = EnsembleJson.FromElement<TInput>(input, at);
            return (EnsembleJson.ToElement(typed, at), typed);
        }, outputs, toJson, cancellationToken);

    private async Task<ExecutionResult<TOutput>> RunCoreAsync<TOutput>(
        FlowDefinition flow,
        JsonElement? rawInput,
        Func<(JsonElement? Json, object? Typed)> prepareInput,
        OutputFactory<TOutput> outputs,
        Func<TOutput, JsonElement> toJson,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(toJson);
        // Created first, so that the timeout counts from the call (and a fake clock advanced right after sees it).
        using var timeout = flow.Timeout is { } limit ? new CancellationTokenSource(limit, _time) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var started = _time.GetTimestamp();
        var id = NewExecutionId();
        // Input that does not match the declaration still starts the run (so that execution.started and execution.failed
        // pair up for receivers), and fails it before any step runs.
        EnsembleDataException? inputError = null;
        (JsonElement? Json, object? Typed) prepared;
        try
        {
            prepared = prepareInput();
        }
        catch (EnsembleDataException ex)
        {
            inputError = ex;
            prepared = (rawInput?.Clone(), null);
        }

        var scope = new ExecutionScope(flow.Ensemble, id, prepared.Json) { TypedInput = prepared.Typed };
        using var activity = Diagnostics.ConductorTelemetry.ActivitySource.StartActivity("conductor.run");
        activity?.SetTag("conductor.ensemble", flow.Ensemble);
        activity?.SetTag("conductor.execution_id", id);

        await _dispatcher.DispatchAsync(new ExecutionStarted(_time.GetUtcNow(), flow.Ensemble, id, scope.Input) { RunInput = scope.Input }, CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (inputError is not null) throw inputError;
            await using var services = _scopes.CreateAsyncScope();
            foreach (var step in flow.Steps)
            {
                linked.Token.ThrowIfCancellationRequested();
                if (step.Condition is { } condition && !condition(new TemplateContext(scope, _environment)))
                {
                    scope.Skipped(step.Name);
                    Log.StepSkipped(_logger, flow.Ensemble, id, step.Name);
                    continue;
                }

                switch (step)
                {
                    case AgentStepDefinition agent:
                        await RunAgentAsync(flow, agent, scope, services.ServiceProvider, linked.Token).ConfigureAwait(false);
                        break;
                    case OperationStepDefinition operation:
                        scope.Completed(operation.Name, await EnqueueOperationAsync(operation, scope, linked.Token).ConfigureAwait(false));
                        break;
                }
            }

            var output = outputs(new TemplateContext(scope, _environment));
            var duration = _time.GetElapsedTime(started);
            await _dispatcher.DispatchAsync(new ExecutionCompleted(_time.GetUtcNow(), flow.Ensemble, id, toJson(output), Milliseconds(duration)) { RunInput = scope.Input }, CancellationToken.None).ConfigureAwait(false);
            Record(flow, "completed", duration);
            return new ExecutionResult<TOutput>(id, ExecutionStatus.Completed, output, null, duration, scope.ExecutedSteps.ToArray());
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var duration = _time.GetElapsedTime(started);
            var limitMs = Milliseconds(flow.Timeout!.Value);
            Log.RunTimedOut(_logger, flow.Ensemble, id, limitMs);
            await _dispatcher.DispatchAsync(new ExecutionTimedOut(_time.GetUtcNow(), flow.Ensemble, id, Milliseconds(duration), limitMs) { RunInput = scope.Input }, CancellationToken.None).ConfigureAwait(false);
            var error = new ErrorInfo($"ensemble '{flow.Ensemble}' exceeded its timeout of {limitMs} ms", typeof(TimeoutException).FullName!);
            Record(flow, "timeout", duration);
            return new ExecutionResult<TOutput>(id, ExecutionStatus.TimedOut, default, error, duration, scope.ExecutedSteps.ToArray());
        }
        catch (Exception ex)
        {
            var duration = _time.GetElapsedTime(started);
            var error = ErrorInfo.From(ex);
            Log.RunFailed(_logger, flow.Ensemble, id, error.Type);
            await _dispatcher.DispatchAsync(new ExecutionFailed(_time.GetUtcNow(), flow.Ensemble, id, error, Milliseconds(duration)) { RunInput = scope.Input }, CancellationToken.None).ConfigureAwait(false);
            Record(flow, "failed", duration);
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
            return new ExecutionResult<TOutput>(id, ExecutionStatus.Failed, default, error, duration, scope.ExecutedSteps.ToArray());
        }
    }

    private async Task RunAgentAsync(FlowDefinition flow, AgentStepDefinition step, ExecutionScope scope, IServiceProvider services, CancellationToken cancellationToken)
    {
        var agent = services.GetKeyedService<IAgent>(AgentStepDefinition.ServiceKey(flow.Ensemble, step.Agent))
            ?? throw new InvalidOperationException(
                $"ensemble '{flow.Ensemble}', flow step '{step.Name}': no implementation of agent '{step.Agent}' is registered; " +
                $"register one with services.AddConductor().{flow.RegistrationMethod}(agents => {step.RegistrationCall}).");
        JsonElement? stepInput = null;
        if (step.Input.Count > 0)
        {
            var context = new TemplateContext(scope, _environment);
            stepInput = JsonValues.Object(step.Input.Select(p => (p.Key, (object?)p.Value.Render(context))).ToArray());
        }

        var stateVersion = scope.State.Version;
        var started = _time.GetTimestamp();
        // WaitAsync: an agent that ignores its token still cannot hold the run past the timeout.
        var output = await agent.RunAsync(new AgentContext(scope, step.Name, step.Agent, stepInput), cancellationToken).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        output = output?.Clone();
        scope.Completed(step.Name, output);
        var duration = _time.GetElapsedTime(started);
        await _dispatcher.DispatchAsync(new AgentCompleted(_time.GetUtcNow(), flow.Ensemble, scope.ExecutionId, step.Agent, output, Milliseconds(duration)) { RunInput = scope.Input }, CancellationToken.None).ConfigureAwait(false);
        if (scope.State.Version != stateVersion)
        {
            await _dispatcher.DispatchAsync(new StateUpdated(_time.GetUtcNow(), flow.Ensemble, scope.ExecutionId, scope.State.ToJson()) { RunInput = scope.Input }, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task<JsonElement> EnqueueOperationAsync(OperationStepDefinition step, ExecutionScope scope, CancellationToken cancellationToken)
    {
        var definition = step.Notification;
        var context = new TemplateContext(scope, _environment);
        var values = new List<KeyValuePair<string, string>>();
        string? to = null;
        foreach (var (key, template) in definition.Config)
        {
            var stored = !definition.ResolvedAtSend.Contains(key);
            // 'to' is rendered even when it is resolved at send time, only to count the recipients.
            if (!stored && key != "to") continue;
            var value = template.Render(context);
            if (key == "to") to = value;
            if (stored) values.Add(new(key, value));
        }

        // An SMS goes out as one delivery per recipient, so that a retry never texts someone who already got it.
        var recipients = definition.Operation == "sms" && to is not null ? Math.Max(1, to.Split(',').Length) : 1;
        var ids = await _dispatcher.EnqueueStepAsync(definition, OperationPayload.Serialize(definition.Ensemble, scope.ExecutionId, step.Name, values), recipients, cancellationToken).ConfigureAwait(false);
        return ids.Length == 1
            ? JsonValues.Object(("deliveryId", ids[0]))
            : JsonValues.Object(("deliveryId", ids[0]), ("deliveryIds", ids));
    }

    private void Record(FlowDefinition flow, string status, TimeSpan duration)
    {
        var ensemble = new KeyValuePair<string, object?>("conductor.ensemble", flow.Ensemble);
        var outcome = new KeyValuePair<string, object?>("conductor.status", status);
        _telemetry.Runs.Add(1, ensemble, outcome);
        _telemetry.RunDuration.Record(duration.TotalMilliseconds, ensemble, outcome);
    }

    private string NewExecutionId() =>
        string.Create(37, Guid.CreateVersion7(_time.GetUtcNow()), static (span, guid) =>
        {
            "exec_".AsSpan().CopyTo(span);
            guid.TryFormat(span[5..], out _, "N");
        });

    private static long Milliseconds(TimeSpan duration) => (long)duration.TotalMilliseconds;

    private static partial class Log
    {
        [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Ensemble {Ensemble} run {ExecutionId}: step {Step} skipped by its condition")]
        public static partial void StepSkipped(ILogger logger, string ensemble, string executionId, string step);

        [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Ensemble {Ensemble} run {ExecutionId} exceeded its timeout of {Timeout} ms")]
        public static partial void RunTimedOut(ILogger logger, string ensemble, string executionId, long timeout);

        [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "Ensemble {Ensemble} run {ExecutionId} failed with {ErrorType}")]
        public static partial void RunFailed(ILogger logger, string ensemble, string executionId, string errorType);
    }
}
