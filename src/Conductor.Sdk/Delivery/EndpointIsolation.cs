using System.Collections.Concurrent;
using Conductor.Sdk.Channels;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// One Polly pipeline per endpoint: a circuit breaker (so a dead receiver stops being attempted for a
/// while) and the per-attempt timeout, both driven by the injected <see cref="TimeProvider"/>. The
/// per-endpoint concurrency limit is kept by <see cref="DeliveryProcessor"/>, which queues instead of
/// occupying worker slots.
/// </summary>
public sealed class EndpointIsolation : IDisposable
{
    /// <summary>The attempt's notification (for its timeout) is passed to the pipeline through this context property.</summary>
    internal static readonly ResiliencePropertyKey<Notifications.NotificationDefinition> AttemptNotification = new("Conductor.Notification");

    private readonly ConcurrentDictionary<string, ResiliencePipeline<AttemptResult>> _pipelines = new(StringComparer.Ordinal);
    // Pipelines are built through a registry so that disposing this disposes them: each circuit breaker runs a loop task
    // of its own (Polly's scheduled-task executor), which ends only when its pipeline is disposed.
    private readonly Polly.Registry.ResiliencePipelineRegistry<string> _registry = new();
    private readonly ConductorOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the isolation layer.</summary>
    public EndpointIsolation(IOptions<ConductorOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
    }

    /// <summary>An endpoint's breaker opened for the given time (the processor pauses the endpoint instead of leasing its rows).</summary>
    internal event Action<string, TimeSpan>? Opened;

    /// <summary>An endpoint's breaker closed again (its probe delivered).</summary>
    internal event Action<string>? Closed;

    /// <summary>The pipeline of one endpoint.</summary>
    public ResiliencePipeline<AttemptResult> For(string endpoint) =>
        // Looked up first: GetOrAdd with the instance method would allocate a delegate on every attempt.
        _pipelines.TryGetValue(endpoint, out var pipeline) ? pipeline : _pipelines.GetOrAdd(endpoint, Build);

    private ResiliencePipeline<AttemptResult> Build(string endpoint) =>
        _registry.GetOrAddPipeline<AttemptResult>(endpoint, builder => Configure(builder, endpoint));

    private void Configure(ResiliencePipelineBuilder<AttemptResult> builder, string endpoint)
    {
        builder.TimeProvider = _time;
        builder.Name = "Conductor.Endpoint";
        builder.InstanceName = endpoint;
        builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<AttemptResult>
            {
                FailureRatio = _options.CircuitBreakerFailureRatio,
                MinimumThroughput = _options.CircuitBreakerMinimumThroughput,
                SamplingDuration = _options.CircuitBreakerSamplingDuration,
                BreakDuration = _options.CircuitBreakerBreakDuration,
                // Only failures that say "the receiver is unwell" count; a 4xx is the receiver working as designed.
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is TimeoutRejectedException
                    || (args.Outcome.Result is { } result && result.Outcome == AttemptOutcome.Retry && result.ErrorKind != AttemptErrorKind.Isolation)),
                OnOpened = args =>
                {
                    Opened?.Invoke(endpoint, args.BreakDuration);
                    return default;
                },
                OnClosed = _ =>
                {
                    Closed?.Invoke(endpoint);
                    return default;
                },
            })
            .AddTimeout(new TimeoutStrategyOptions
            {
                TimeoutGenerator = args => ValueTask.FromResult(
                    args.Context.Properties.TryGetValue(AttemptNotification, out var notification) ? notification.AttemptTimeout : TimeSpan.FromSeconds(30)),
            });
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _pipelines.Clear();
        _registry.Dispose();
    }
}
