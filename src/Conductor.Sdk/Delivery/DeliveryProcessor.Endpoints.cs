using Conductor.Sdk.Diagnostics;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// Pausing endpoints. An endpoint is paused while it is disabled, while its circuit breaker is open, for a 429's
/// Retry-After, and between the attempts its rate limit allows. A paused endpoint counts as busy: leases and next-due
/// queries skip its rows in one index seek, so its backlog stays in the store and costs nothing per stored delivery;
/// its queued deliveries wait (holding their leases; a disabled endpoint's go back to the store). A timer on the
/// injected clock ends a hold. After a breaker opened, the endpoint resumes with one attempt at a time (the probe)
/// until the breaker closes.
/// </summary>
public sealed partial class DeliveryProcessor
{
    /// <summary>
    /// Whether a delivery of <paramref name="slots"/> may start now (under the lock): not paused, under the endpoint's and
    /// the total concurrency, and within the endpoint's rate. Taking a rate permit is part of the answer; when there is
    /// none, the endpoint is held until the next one.
    /// </summary>
    private bool CanStartLocked(EndpointSlots slots, DateTimeOffset now)
    {
        if (slots.Paused || slots.Running >= (slots.Probe ? 1 : _options.MaxConcurrentPerEndpoint) || _running >= _options.MaxConcurrentDeliveries) return false;
        if (slots.Rate is not { } rate) return true;
        // GCRA: an attempt may start while the theoretical arrival time is at most one period (less one interval) ahead.
        var interval = rate.Interval;
        var next = slots.RateNext > now ? slots.RateNext : now;
        var allowedFrom = next - (rate.Per - interval);
        if (allowedFrom > now)
        {
            HoldLocked(slots, allowedFrom, now);
            return false;
        }

        slots.RateNext = next + interval;
        return true;
    }

    /// <summary>
    /// Pauses an endpoint until <paramref name="until"/> (a breaker that opened, a 429's Retry-After). Its queued
    /// deliveries go back to the store, due as before, so that a paused endpoint holds no lease and no memory.
    /// </summary>
    private void Hold(string endpoint, DateTimeOffset until, bool probe, string reason)
    {
        var now = _time.GetUtcNow();
        if (until <= now) return;
        List<DeliveryRecord>? released;
        lock (_gate)
        {
            var slots = EndpointState(endpoint);
            if (probe) slots.Probe = true;
            HoldLocked(slots, until, now);
            released = DrainLocked(slots);
            IdleIfDoneLocked();
        }

        Release(released);
        Log.EndpointHeld(_logger, endpoint, until, reason);
    }

    /// <summary>Takes an endpoint's queued deliveries out of its queue (under the lock), to be handed back to the store.</summary>
    private List<DeliveryRecord>? DrainLocked(EndpointSlots slots)
    {
        List<DeliveryRecord>? drained = null;
        while (slots.Waiting.TryDequeue(out var waiting))
        {
            _waiting--;
            _held.Remove(waiting.Delivery.Id);
            (drained ??= new()).Add(waiting.Delivery);
        }

        return drained;
    }

    /// <summary>Hands deliveries back to the store, due as they were (their endpoint is flagged as having a backlog).</summary>
    private void Release(List<DeliveryRecord>? deliveries)
    {
        if (deliveries is null) return;
        foreach (var delivery in deliveries) _ = _store.ReleaseAsync(delivery.Id, delivery.DueAt, CancellationToken.None).AsTask();
    }

    /// <summary>When the worker stops: the queues of paused endpoints (waiting for a rate permit) go back to the store.</summary>
    private void ReleasePaused()
    {
        List<DeliveryRecord>? released = null;
        lock (_gate)
        {
            foreach (var slots in _endpoints.Values)
            {
                if (slots.Paused && DrainLocked(slots) is { } drained) (released ??= new()).AddRange(drained);
            }

            IdleIfDoneLocked();
        }

        Release(released);
    }

    private void HoldLocked(EndpointSlots slots, DateTimeOffset until, DateTimeOffset now)
    {
        if (slots.HeldUntil >= until && slots.Paused) return;
        slots.HeldUntil = until;
        slots.Paused = true;
        slots.HoldTimer ??= _time.CreateTimer(static state =>
        {
            var (processor, endpoint) = ((DeliveryProcessor, EndpointSlots))state!;
            processor.Resume(endpoint);
        }, (this, slots), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        slots.HoldTimer.Change(until - now, Timeout.InfiniteTimeSpan);
    }

    /// <summary>A hold's timer fired: the endpoint's waiting deliveries start, and the worker looks at its rows again.</summary>
    private void Resume(EndpointSlots slots)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (slots.Disabled || !slots.Paused) return;
            if (slots.HeldUntil > now)
            {
                slots.HoldTimer?.Change(slots.HeldUntil - now, Timeout.InfiniteTimeSpan);
                return;
            }

            slots.Paused = false;
        }

        StartWaiting(slots);
    }

    /// <summary>The breaker closed: the endpoint runs at its full concurrency again.</summary>
    private void EndProbe(string endpoint)
    {
        EndpointSlots slots;
        lock (_gate)
        {
            slots = EndpointState(endpoint);
            if (!slots.Probe) return;
            slots.Probe = false;
        }

        StartWaiting(slots);
    }

    /// <summary>Starts what now fits of an endpoint's queue, flags its rows in the store for the next lease, and wakes the worker.</summary>
    private void StartWaiting(EndpointSlots slots)
    {
        List<DeliveryRecord>? toStart = null, expired = null;
        var now = _time.GetUtcNow();
        CancellationToken token;
        lock (_gate)
        {
            token = _handoffToken;
            while (Take(slots, now, ref expired) is { } delivery) (toStart ??= new()).Add(delivery);
            Flag(slots, ++_stamp);
            IdleIfDoneLocked();
        }

        if (toStart is not null)
        {
            foreach (var delivery in toStart) Launch(delivery, token);
        }

        if (expired is not null)
        {
            foreach (var delivery in expired) _ = _store.ReleaseAsync(delivery.Id, now, CancellationToken.None).AsTask();
        }

        _signal.Wake();
    }

    /// <summary>
    /// Applies the set of disabled endpoints (from <see cref="EndpointLifecycle"/>): a newly disabled endpoint is paused
    /// and its queued deliveries go back to the store, due as before; a newly enabled one resumes, and the worker leases
    /// its waiting rows in due order.
    /// </summary>
    private void SetDisabled(IReadOnlySet<string> disabled)
    {
        List<DeliveryRecord>? released = null;
        List<EndpointSlots>? enabled = null;
        lock (_gate)
        {
            foreach (var endpoint in disabled) EndpointState(endpoint);
            foreach (var slots in _endpoints.Values)
            {
                var now = disabled.Contains(slots.Name);
                if (now == slots.Disabled) continue;
                slots.Disabled = now;
                if (now)
                {
                    slots.Paused = true;
                    if (DrainLocked(slots) is { } drained) (released ??= new()).AddRange(drained);
                }
                else
                {
                    slots.Paused = slots.HeldUntil > _time.GetUtcNow();
                    (enabled ??= new()).Add(slots);
                }
            }

            IdleIfDoneLocked();
        }

        Release(released);
        if (enabled is not null)
        {
            foreach (var slots in enabled) StartWaiting(slots);
        }

        // The store changed in ways this process's view does not cover.
        _signal.Notify();
    }
}
