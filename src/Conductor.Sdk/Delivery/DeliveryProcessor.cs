using System.Collections.Concurrent;
using System.Diagnostics;
using Conductor.Sdk.Channels;
using Conductor.Sdk.DependencyInjection;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.RateLimiting;
using Polly.Timeout;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// Runs due deliveries: leases them from the store, sends each through its endpoint's isolation pipeline
/// and its channel, and records every attempt's outcome (delivered, retry at the next scheduled time, or
/// dead letter). Attempts run concurrently and are not awaited as a batch, so a hanging receiver never
/// holds up deliveries to others.
/// </summary>
public sealed class DeliveryProcessor
{
    private readonly IDeliveryStore _store;
    private readonly NotificationRegistry _registry;
    private readonly Dictionary<string, INotificationChannel> _channels;
    private readonly EndpointIsolation _isolation;
    private readonly ConductorOptions _options;
    private readonly TimeProvider _time;
    private readonly ConductorTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Task> _inflight = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _leaseGate = new(1, 1);

    /// <summary>Creates a processor.</summary>
    public DeliveryProcessor(
        IDeliveryStore store,
        NotificationRegistry registry,
        IEnumerable<INotificationChannel> channels,
        EndpointIsolation isolation,
        IOptions<ConductorOptions> options,
        TimeProvider time,
        ConductorTelemetry telemetry,
        ILogger<DeliveryProcessor>? logger = null)
    {
        _store = store;
        _registry = registry;
        _channels = channels.ToDictionary(c => c.Channel, StringComparer.Ordinal);
        _isolation = isolation;
        _options = options.Value;
        _time = time;
        _telemetry = telemetry;
        _logger = logger ?? NullLogger<DeliveryProcessor>.Instance;
    }

    /// <summary>Attempts currently running.</summary>
    public int InFlight => _inflight.Count;

    /// <summary>Raised after each attempt is recorded (tests and diagnostics wait on it).</summary>
    public event Action<AttemptLog>? AttemptRecorded;

    /// <summary>
    /// Leases what is due now, up to the free capacity, and starts it. Returns how many attempts were started;
    /// they finish in the background (<see cref="WhenIdleAsync"/> waits for them).
    /// </summary>
    public async Task<int> StartDueAsync(CancellationToken cancellationToken = default)
    {
        await _leaseGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = 0;
            while (true)
            {
                var capacity = Math.Min(_options.BatchSize, _options.MaxConcurrentDeliveries - _inflight.Count);
                if (capacity <= 0) return started;
                var now = _time.GetUtcNow();
                var leased = await _store.LeaseDueAsync(now, capacity, now + _options.LeaseDuration, cancellationToken).ConfigureAwait(false);
                foreach (var delivery in leased)
                {
                    var task = Task.Run(() => ProcessAsync(delivery, cancellationToken), CancellationToken.None);
                    _inflight[delivery.Id] = task;
                    _ = task.ContinueWith(_ => _inflight.TryRemove(delivery.Id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }

                started += leased.Count;
                if (leased.Count < capacity) return started;
            }
        }
        finally
        {
            _leaseGate.Release();
        }
    }

    /// <summary>Waits until no attempt is running.</summary>
    public async Task WhenIdleAsync()
    {
        while (!_inflight.IsEmpty)
        {
            await Task.WhenAll(_inflight.Values.ToArray()).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until one running attempt finishes (or returns at once when none runs).</summary>
    public Task WhenAnyCompletesAsync()
    {
        var running = _inflight.Values.ToArray();
        return running.Length == 0 ? Task.CompletedTask : Task.WhenAny(running);
    }

    /// <summary>Starts everything due now and waits for those attempts to be recorded (tests, tools).</summary>
    public async Task<int> RunDueAsync(CancellationToken cancellationToken = default)
    {
        var started = await StartDueAsync(cancellationToken).ConfigureAwait(false);
        await WhenIdleAsync().ConfigureAwait(false);
        return started;
    }

    private async Task ProcessAsync(DeliveryRecord delivery, CancellationToken cancellationToken)
    {
        var notification = _registry.Find(delivery.NotificationKey);
        var now = _time.GetUtcNow();
        if (notification is null || !_channels.TryGetValue(delivery.Channel, out var channel))
        {
            Log.UnknownNotification(_logger, delivery.Id, delivery.NotificationKey);
            await RecordAsync(delivery, notification, new AttemptLog(delivery.Id, delivery.Attempts + 1, now, TimeSpan.Zero, AttemptOutcome.Permanent, null,
                AttemptErrorKind.Provider, $"notification {delivery.NotificationKey} or its '{delivery.Channel}' channel is not registered", null), cancellationToken).ConfigureAwait(false);
            return;
        }

        var number = delivery.Attempts + 1;
        var attempt = new DeliveryAttempt(delivery, notification, number);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(EndpointIsolation.AttemptTimeout, (notification as WebhookNotificationDefinition)?.Timeout ?? TimeSpan.FromSeconds(30));
        var started = _time.GetTimestamp();
        using var activity = ConductorTelemetry.ActivitySource.StartActivity("conductor.delivery.attempt", ActivityKind.Client);
        activity?.SetTag("conductor.delivery.id", delivery.Id);
        activity?.SetTag("conductor.delivery.attempt", number);
        activity?.SetTag("conductor.channel", delivery.Channel);
        AttemptResult result;
        try
        {
            result = await _isolation.For(delivery.Endpoint)
                .ExecuteAsync(static (ctx, state) => state.channel.SendAsync(state.attempt, ctx.CancellationToken), context, (channel, attempt))
                .ConfigureAwait(false);
        }
        catch (RateLimiterRejectedException)
        {
            await PostponeAsync(delivery, _options.BusyEndpointDelay, "at its concurrency limit", cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (BrokenCircuitException broken)
        {
            await PostponeAsync(delivery, broken.RetryAfter ?? _options.CircuitBreakerBreakDuration, "failing (circuit open)", cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (TimeoutRejectedException timeout)
        {
            result = new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Timeout, $"no response within {timeout.Timeout.TotalMilliseconds:0} ms");
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        var duration = _time.GetElapsedTime(started);
        var finishedAt = _time.GetUtcNow();
        DateTimeOffset? nextDue = null;
        if (result.Outcome == AttemptOutcome.Retry)
        {
            var remaining = delivery.MaxAttempts - number;
            if (remaining > 0)
            {
                var retryNumber = notification.Retries - remaining + 1;
                nextDue = RetrySchedule.NextDelay(Math.Max(1, retryNumber), notification.Retries, result.RetryAfter) is { } delay ? finishedAt + delay : null;
            }
        }

        var log = new AttemptLog(delivery.Id, number, now, duration, result.Outcome, result.StatusCode, result.ErrorKind, result.Error, nextDue);
        activity?.SetTag("conductor.delivery.outcome", result.Outcome.ToString());
        if (result.StatusCode is int code) activity?.SetTag("http.response.status_code", code);
        _telemetry.Attempted.Add(1, new KeyValuePair<string, object?>("conductor.channel", delivery.Channel));
        _telemetry.AttemptDuration.Record(duration.TotalMilliseconds,
            new KeyValuePair<string, object?>("conductor.channel", delivery.Channel),
            new KeyValuePair<string, object?>("conductor.outcome", result.Outcome.ToString()));
        await RecordAsync(delivery, notification, log, cancellationToken).ConfigureAwait(false);
    }

    private async Task RecordAsync(DeliveryRecord delivery, NotificationDefinition? notification, AttemptLog log, CancellationToken cancellationToken)
    {
        DeliveryStatus next;
        var tag = new KeyValuePair<string, object?>("conductor.channel", delivery.Channel);
        if (log.Outcome == AttemptOutcome.Delivered)
        {
            next = DeliveryStatus.Delivered;
            _telemetry.Succeeded.Add(1, tag);
            Log.Delivered(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, delivery.Endpoint, log.Number, log.StatusCode);
        }
        else if (log.NextDueAt is { } due)
        {
            next = DeliveryStatus.Pending;
            _telemetry.Retried.Add(1, tag);
            Log.Retrying(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, log.Number, delivery.Endpoint, log.ErrorKind.ToString(), log.StatusCode, log.Error, due);
        }
        else
        {
            next = DeliveryStatus.DeadLettered;
            _telemetry.DeadLettered.Add(1, tag);
            Log.DeadLettered(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, delivery.Endpoint, log.Number, log.ErrorKind.ToString(), log.StatusCode, log.Error);
        }

        await _store.RecordAttemptAsync(log, next, cancellationToken).ConfigureAwait(false);
        AttemptRecorded?.Invoke(log);
    }

    private async Task PostponeAsync(DeliveryRecord delivery, TimeSpan delay, string reason, CancellationToken cancellationToken)
    {
        var due = _time.GetUtcNow() + delay;
        Log.Postponed(_logger, delivery.Id, due, delivery.Endpoint, reason);
        await _store.ReleaseAsync(delivery.Id, due, cancellationToken).ConfigureAwait(false);
    }
}
