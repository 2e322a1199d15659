using System.Diagnostics;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Notifications;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// One attempt of a leased delivery: its channel is called through the endpoint's isolation pipeline (timeout,
/// concurrency, circuit breaker), the result is classified by <see cref="RetrySchedule"/>, and the outcome (delivered,
/// retry at the next scheduled time, dead letter) is written to the store.
/// </summary>
public sealed partial class DeliveryProcessor
{
    // Pooled state machine: awaited once by the slot's loop, so each attempt reuses a box instead of allocating one.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(DeliveryMethodBuilder))]
    private async ValueTask ProcessAsync(DeliveryRecord delivery, CancellationToken cancellationToken)
    {
        var notification = _registry.Find(delivery.NotificationKey);
        var now = _time.GetUtcNow();
        if (notification is null || !_channels.TryGetValue(delivery.Channel, out var channel))
        {
            Log.UnknownNotification(_logger, delivery.Id, delivery.NotificationKey);
            Record(delivery, new AttemptLog(delivery.Id, delivery.Attempts + 1, now, TimeSpan.Zero, AttemptOutcome.Permanent, null,
                AttemptErrorKind.Provider, $"notification {delivery.NotificationKey} or its '{delivery.Channel}' channel is not registered", null));
            return;
        }

        var number = delivery.Attempts + 1;
        var attempt = new DeliveryAttempt(delivery, notification, number);
        // Keyed by the notification: the timeout strategy looks its attempt timeout up by that key (EndpointIsolation).
        var context = ResilienceContextPool.Shared.Get(notification.Key, cancellationToken);
        var started = _time.GetTimestamp();
        // The attempt continues the trace of the Notify call that stored the delivery, however much later it runs.
        using var activity = _options.PropagateTraceContext && delivery.TraceParent is { } parent
            ? ConductorTelemetry.ActivitySource.StartActivity("conductor.delivery.attempt", ActivityKind.Client, parent)
            : ConductorTelemetry.ActivitySource.StartActivity("conductor.delivery.attempt", ActivityKind.Client);
        activity?.SetTag("conductor.delivery.id", delivery.Id);
        activity?.SetTag("conductor.delivery.attempt", number);
        activity?.SetTag("conductor.channel", delivery.Channel);
        AttemptResult result;
        Outcome<AttemptResult> outcome;
        try
        {
            // The outcome API: Polly hands exceptions back in the outcome instead of throwing them through its strategies.
            outcome = ControlledScheduling.Enabled
                ? await ControlledScheduling.ExecuteAsync(_isolation.For(delivery.Endpoint), SendAsync, context, (channel, attempt), notification.AttemptTimeout, _time).ConfigureAwait(false)
                : await _isolation.For(delivery.Endpoint).ExecuteOutcomeAsync(SendAsync, context, (channel, attempt)).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        switch (outcome.Exception)
        {
            case null:
                result = outcome.Result!;
                break;
            case BrokenCircuitException broken:
                Hold(delivery.Endpoint, now + (broken.RetryAfter ?? _options.CircuitBreakerBreakDuration), probe: true, "its circuit breaker is open");
                await PostponeAsync(delivery, broken.RetryAfter ?? _options.CircuitBreakerBreakDuration, "failing (circuit open)", cancellationToken).ConfigureAwait(false);
                return;
            case TimeoutRejectedException timeout:
                result = new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Timeout, $"no response within {timeout.Timeout.TotalMilliseconds:0} ms");
                break;
            case var ex when ex is OutOfMemoryException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested):
                outcome.ThrowIfException();
                return;
            case var ex:
                // A channel must not throw for a delivery failure; if one does (a bug, a user hook), the attempt still counts,
                // so the delivery follows the retry schedule to a dead letter instead of coming back with every lease.
                // Only the type is stored: an exception message may carry anything.
                Log.ChannelThrew(_logger, ex, delivery.Id, delivery.Channel);
                result = new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Provider, $"the '{delivery.Channel}' channel failed with {ex.GetType().FullName} (see the logs)");
                break;
        }

        var duration = _time.GetElapsedTime(started);
        // The end of the attempt on the same clock as its start (one clock read fewer per attempt).
        var finishedAt = now + duration;
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

        var log = new AttemptLog(delivery.Id, number, now, duration, result.Outcome, result.StatusCode, result.ErrorKind, Storable(result.Error), nextDue);
        // A 429 with Retry-After speaks for the receiver, not for this one delivery: the endpoint waits.
        if (result.StatusCode == 429 && result.RetryAfter is { } retryAfter)
        {
            Hold(delivery.Endpoint, finishedAt + (retryAfter < RetrySchedule.MaxRetryAfter ? retryAfter : RetrySchedule.MaxRetryAfter), probe: false, "the receiver answered 429 with Retry-After");
        }

        activity?.SetTag("conductor.delivery.outcome", OutcomeNames[(int)result.Outcome]);
        if (result.StatusCode is int code) activity?.SetTag("http.response.status_code", code);
        _telemetry.Attempted.Add(1, new KeyValuePair<string, object?>("conductor.channel", delivery.Channel));
        _telemetry.AttemptDuration.Record(duration.TotalMilliseconds,
            new KeyValuePair<string, object?>("conductor.channel", delivery.Channel),
            new KeyValuePair<string, object?>("conductor.outcome", OutcomeNames[(int)result.Outcome]));
        Record(delivery, log);
    }

    /// <summary>The channel call inside the isolation pipeline, as an outcome (pooled: one per attempt in flight).</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(DeliveryMethodBuilder<>))]
    private static async ValueTask<Outcome<AttemptResult>> SendAsync(ResilienceContext context, (INotificationChannel Channel, DeliveryAttempt Attempt) state)
    {
        try
        {
            return Outcome.FromResult(await state.Channel.SendAsync(state.Attempt, context.CancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            return Outcome.FromException<AttemptResult>(ex);
        }
    }

    /// <summary>
    /// A channel's error text as every store can keep it: a lone surrogate (not valid UTF-16, as a provider's JSON error
    /// can carry) becomes U+FFFD, which PostgreSQL's encoder would otherwise refuse, so that the outcome is never unstorable.
    /// </summary>
    internal static string? Storable(string? text)
    {
        if (text is null) return null;
        for (var i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            return System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(text));
        }

        return text;
    }

    /// <summary>Counts and logs the attempt's outcome and hands it to the store; the slot does not wait for the write.</summary>
    private void Record(DeliveryRecord delivery, AttemptLog log)
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
            Due(delivery.Endpoint, due);
            _telemetry.Retried.Add(1, tag);
            if (log.StatusCode is null) Log.RetryingWithoutStatus(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, log.Number, delivery.Endpoint, log.ErrorKind.ToString(), log.Error, due);
            else Log.Retrying(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, log.Number, delivery.Endpoint, log.ErrorKind.ToString(), log.StatusCode, log.Error, due);
        }
        else
        {
            next = DeliveryStatus.DeadLettered;
            _telemetry.DeadLettered.Add(1, tag);
            if (log.StatusCode is null) Log.DeadLetteredWithoutStatus(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, delivery.Endpoint, log.Number, log.ErrorKind.ToString(), log.Error);
            else Log.DeadLettered(_logger, delivery.Id, delivery.NotificationKey, delivery.Event, delivery.Endpoint, log.Number, log.ErrorKind.ToString(), log.StatusCode, log.Error);
        }

        _lifecycle?.Observe(delivery, log, next);
        // The slot does not wait for a durable store to commit the outcome: a lost outcome can only make the delivery
        // be sent again (at-least-once), so the next delivery starts while the store groups the commits.
        // Not cancellable: an attempt that was made is recorded even while the host shuts down.
        var write = _store.RecordAttemptAsync(log, next, CancellationToken.None);
        if (write.IsCompletedSuccessfully)
        {
            AttemptRecorded?.Invoke(log);
            return;
        }

        bool pump;
        lock (_gate)
        {
            _writes++;
            _unrecorded.Enqueue((write, log));
            pump = !_pumping;
            _pumping = true;
        }

        if (pump) _ = PumpWritesAsync();
    }

    /// <summary>
    /// Waits for the outcome writes in the order they were made, one at a time. A durable store commits them in groups,
    /// so when the first of a group completes the rest usually have too: the group resumes one continuation here, not
    /// one per attempt (each of which would be a thread-pool work item).
    /// </summary>
    private async Task PumpWritesAsync()
    {
        while (true)
        {
            (ValueTask Write, AttemptLog Log) next;
            lock (_gate)
            {
                if (!_unrecorded.TryDequeue(out next))
                {
                    _pumping = false;
                    return;
                }
            }

            try
            {
                await next.Write.ConfigureAwait(false);
                AttemptRecorded?.Invoke(next.Log);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The outcome was not stored: the lease runs out and the delivery is attempted again.
                Log.WorkerFailed(_logger, ex);
            }
            finally
            {
                lock (_gate)
                {
                    _writes--;
                    IdleIfDoneLocked();
                }
            }
        }
    }

    private async Task PostponeAsync(DeliveryRecord delivery, TimeSpan delay, string reason, CancellationToken cancellationToken)
    {
        var due = _time.GetUtcNow() + delay;
        Log.Postponed(_logger, delivery.Id, due, delivery.Endpoint, reason);
        await _store.ReleaseAsync(delivery.Id, due, cancellationToken).ConfigureAwait(false);
        Due(delivery.Endpoint, due);
    }
}
