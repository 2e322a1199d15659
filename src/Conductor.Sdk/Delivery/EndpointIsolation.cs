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
    private readonly ConcurrentDictionary<string, ResiliencePipeline<AttemptResult>> _pipelines = new(StringComparer.Ordinal);
    // Pipelines are built through a registry so that disposing this disposes them: each circuit breaker runs a loop task
    // of its own (Polly's scheduled-task executor), which ends only when its pipeline is disposed.
    private readonly Polly.Registry.ResiliencePipelineRegistry<string> _registry = new();
    private readonly ConductorOptions _options;
    private readonly TimeProvider _time;
    private readonly Notifications.NotificationRegistry _notifications;

    /// <summary>Creates the isolation layer; each attempt's timeout is its notification's (<paramref name="notifications"/>).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public EndpointIsolation(IOptions<ConductorOptions> options, TimeProvider time, Notifications.NotificationRegistry notifications)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _notifications = notifications ?? throw new ArgumentNullException(nameof(notifications));
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
                // The attempt's context is keyed by its notification (the operation key): a context property would cost a
                // dictionary per attempt whenever Polly's small context pool runs dry, as it does with many attempts in flight.
                TimeoutGenerator = args => ValueTask.FromResult(
                    args.Context.OperationKey is { } key && _notifications.Find(key) is { } notification ? notification.AttemptTimeout : TimeSpan.FromSeconds(30)),
            });
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _pipelines.Clear();
        _registry.Dispose();
    }
}
