namespace Conductor.Sdk.Delivery;

/// <summary>
/// What the processor knows of the store, so that it queries it only when a query can find something, and hands new
/// deliveries straight to their endpoint's slots.
/// <list type="bullet">
/// <item><b>Handoff.</b> While the worker runs, a delivery stored by this process for an endpoint with room is leased
/// in the very write that stores it (<see cref="ILeasingDeliveryStore"/>) and admitted at once: no lease query reads
/// it back. Its lease protects it from other processes exactly as a leased row does; if this process dies, the lease
/// runs out and another process (or the restart) sends it.</item>
/// <item><b>Backlog flags.</b> An endpoint is flagged when the store may hold due deliveries of it that no lease took:
/// a delivery stored without the handoff (its queue was full), a lease handed back. A lease that returns fewer than it
/// asked for clears the flags of the endpoints it did not skip. A flagged endpoint gets no handoff, so new deliveries
/// never overtake its older ones.</item>
/// <item><b>Quiet.</b> When every flagged endpoint has a full queue, nothing in this process's view of the store is due
/// elsewhere, and no signal said the store changed (<see cref="DeliverySignal.Notify"/>: another process, a replay, the
/// clock), a lease or next-due query could only walk past the waiting rows of the full endpoints, a cost that grows
/// with the backlog and is paid under the store's write lock. The worker then makes none, until a queue has room, a
/// signal comes, an own retry falls due, or <see cref="PollWhileQuiet"/> has passed (for what other processes do).</item>
/// </list>
/// </summary>
public sealed partial class DeliveryProcessor
{
    /// <summary>The longest the worker goes without querying the store while it is quiet (other processes, expired leases).</summary>
    internal static readonly TimeSpan PollWhileQuiet = TimeSpan.FromSeconds(1);

    private bool _handoff;
    private CancellationToken _handoffToken;
    private long _stamp;
    private long _knownGeneration = -1;
    private int _backlogEndpoints;
    private DateTimeOffset _quietUntil = DateTimeOffset.MinValue;
    // When the worker looks at the store next, as NextDueAsync last told it (its timer may fire earlier, never later).
    private DateTimeOffset _lookAt = DateTimeOffset.MaxValue;
    private long _quietGeneration = -1;
    // Due times of this process's own retries and postponements that no complete query has passed yet.
    private readonly PriorityQueue<DateTimeOffset, DateTimeOffset> _ownDues = new();
    // Notify calls refused the handoff only because this process's view of the store was not whole: they wait for the
    // next lease query's result (or the worker's next look that makes none) and ask once more (see TryReserve).
    private TaskCompletionSource? _reserveWaiters;

    /// <summary>Called by the worker when it starts: new deliveries may now be handed over as they are stored.</summary>
    internal void StartHandoffs(CancellationToken stoppingToken)
    {
        lock (_gate)
        {
            _handoff = true;
            _handoffToken = stoppingToken;
        }
    }

    /// <summary>Called by the worker when it stops: new deliveries stay in the store for the next worker.</summary>
    internal void StopHandoffs()
    {
        lock (_gate) _handoff = false;
        ReleaseReserveWaiters();
        ReleasePaused();
    }

    /// <summary>True while a Notify call waits for the worker's next look at the store (tests).</summary>
    internal bool WaitingForLease
    {
        get
        {
            lock (_gate) return _reserveWaiters is not null;
        }
    }

    /// <summary>The worker has looked at the store: Notify calls waiting in <see cref="TryReserve"/> ask again.</summary>
    private void ReleaseReserveWaiters()
    {
        TaskCompletionSource? waiters;
        lock (_gate)
        {
            waiters = _reserveWaiters;
            _reserveWaiters = null;
        }

        waiters?.TrySetResult();
    }

    /// <summary>
    /// Reserves room for <paramref name="records"/> (all or none) in their endpoints' slots and queues, and returns the
    /// lease to store them with, or null when they should be stored for the worker to lease: no worker runs, the
    /// processor's view of the store is not whole, an endpoint has a backlog in the store or would fill its queue.
    /// <para>
    /// When the only obstacle is the view of the store (not whole, or a backlog flag), <paramref name="nextLease"/> is
    /// completed when the worker has next looked at the store (the worker is woken for it): a lease that finds the store
    /// drained clears the flags, so the caller waits for it and asks once more. Otherwise, under steady load, every
    /// delivery stored while the worker queries would be stored unleased, flag its endpoint again and need another
    /// query, and the handoff would never come back (with PostgreSQL, whose queries take milliseconds, it did not).
    /// </para>
    /// </summary>
    internal DateTimeOffset? TryReserve(ReadOnlySpan<DeliveryRecord> records, out Task? nextLease)
    {
        nextLease = null;
        lock (_gate)
        {
            if (!_handoff) return null;
            if (_running + _waiting + _reserved + records.Length + _options.BatchSize > _options.MaxConcurrentDeliveries + _options.MaxQueuedTotal) return null;
            var unknown = _signal.Generation != _knownGeneration;
            for (var i = 0; i < records.Length; i++)
            {
                var slots = EndpointState(records[i].Endpoint);
                slots.Reserved++;
                if (IsSaturated(slots) ||
                    slots.Running + slots.Waiting.Count + slots.Reserved + _options.BatchSize > _options.MaxConcurrentPerEndpoint + _options.MaxQueuedPerEndpoint)
                {
                    for (var j = 0; j <= i; j++) _endpoints[records[j].Endpoint].Reserved--;
                    return null;
                }

                unknown |= slots.Backlog != 0;
            }

            if (!unknown)
            {
                _reserved += records.Length;
                MarkBusy();
                return _time.GetUtcNow() + _options.LeaseDuration;
            }

            foreach (var record in records) _endpoints[record.Endpoint].Reserved--;
            nextLease = (_reserveWaiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        _signal.Wake();
        return null;
    }

    /// <summary>Admits reserved deliveries once they are stored: each starts at once or waits in its endpoint's queue.</summary>
    internal void Admit(ReadOnlySpan<DeliveryRecord> records, DateTimeOffset leaseUntil)
    {
        var leasedAt = leaseUntil - _options.LeaseDuration;
        List<DeliveryRecord>? toStart = null;
        CancellationToken token;
        lock (_gate)
        {
            token = _handoffToken;
            _changes++;
            foreach (var delivery in records)
            {
                var slots = _endpoints[delivery.Endpoint];
                slots.Reserved--;
                _reserved--;
                // If the worker stopped meanwhile, the delivery stays leased in the store and comes back when the lease ends.
                if (!_handoff) continue;
                _held.Add(delivery.Id);
                if (CanStartLocked(slots, leasedAt))
                {
                    slots.Running++;
                    _running++;
                    (toStart ??= new()).Add(delivery);
                }
                else
                {
                    slots.Waiting.Enqueue((delivery, leasedAt));
                    _waiting++;
                }
            }

            IdleIfDoneLocked();
        }

        if (toStart is null) return;
        foreach (var delivery in toStart) Launch(delivery, token);
    }

    /// <summary>Gives back a reservation whose store write failed.</summary>
    internal void Unreserve(ReadOnlySpan<DeliveryRecord> records)
    {
        lock (_gate)
        {
            foreach (var delivery in records)
            {
                var slots = _endpoints[delivery.Endpoint];
                slots.Reserved--;
                _reserved--;
            }

            IdleIfDoneLocked();
        }
    }

    /// <summary>
    /// Deliveries this process stored without the handoff: their endpoints have a backlog in the store. Returns whether
    /// to wake the worker: not when every one of them is for an endpoint with a full queue, since its lease would skip
    /// them and the processor wakes it as that queue drains (with a backlog, this saves a worker round per Notify).
    /// </summary>
    internal bool Stored(ReadOnlySpan<DeliveryRecord> records)
    {
        lock (_gate)
        {
            var stamp = ++_stamp;
            var wake = records.Length == 0;
            foreach (var delivery in records)
            {
                var slots = EndpointState(delivery.Endpoint);
                Flag(slots, stamp);
                wake |= !IsSaturated(slots);
            }

            return wake;
        }
    }

    /// <summary>A delivery of this process is due again at <paramref name="due"/> (a retry, a lease handed back).</summary>
    private void Due(string endpoint, DateTimeOffset due)
    {
        bool wake;
        lock (_gate)
        {
            if (due <= _time.GetUtcNow())
            {
                Flag(EndpointState(endpoint), ++_stamp);
                wake = true;
            }
            else
            {
                _ownDues.Enqueue(due, due);
                // A worker asleep past this time is woken to set its timer earlier. (Comparing with the end of the quiet
                // period instead missed retries recorded after the worker went to sleep for its idle poll: found by the
                // systematic tests, a retry due in 5 s started 25 s late.)
                wake = due < _lookAt;
                if (wake) _lookAt = due;
                if (due < _quietUntil) _quietUntil = due;
            }
        }

        if (wake) _signal.Wake();
    }

    private void Flag(EndpointSlots slots, long stamp)
    {
        if (slots.Backlog == 0) _backlogEndpoints++;
        slots.Backlog = stamp;
    }

    /// <summary>
    /// After a lease that returned fewer than it asked for: nothing was due outside <paramref name="busy"/> when it ran
    /// (at <paramref name="stamp"/>, with the signal at <paramref name="generation"/>). Busy endpoints keep, or get, a
    /// flag: the lease skipped their rows.
    /// </summary>
    private void LeasedAllLocked(IReadOnlyCollection<string> busy, long stamp, long generation)
    {
        foreach (var (endpoint, slots) in _endpoints)
        {
            if (busy.Contains(endpoint))
            {
                if (slots.Backlog == 0) Flag(slots, stamp);
            }
            else if (slots.Backlog != 0 && slots.Backlog <= stamp)
            {
                slots.Backlog = 0;
                _backlogEndpoints--;
            }
        }

        _knownGeneration = generation;
        var now = _time.GetUtcNow();
        while (_ownDues.TryPeek(out var due, out _) && due <= now) _ownDues.Dequeue();
    }

    /// <summary>True when no lease query can find anything now (see the class remarks).</summary>
    private bool QuietLocked(DateTimeOffset now)
    {
        var generation = _signal.Generation;
        if (generation != _knownGeneration || generation != _quietGeneration || now >= _quietUntil) return false;
        if (_ownDues.TryPeek(out var due, out _) && due <= now) return false;
        if (_backlogEndpoints == 0) return true;
        foreach (var slots in _endpoints.Values)
        {
            if (slots.Backlog != 0 && !IsSaturated(slots)) return false;
        }

        return true;
    }

    /// <summary>
    /// When the worker should look again: the store's next due time outside the busy endpoints, or this process's own
    /// next retry if earlier. While quiet, the remembered time, without a query.
    /// </summary>
    internal async ValueTask<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken)
    {
        IReadOnlyCollection<string> busy;
        long generation;
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (QuietLocked(now)) return _lookAt = OwnNextLocked(_quietUntil);
            busy = BusyEndpointsLocked();
            generation = _signal.Generation;
        }

        var next = await _store.NextDueAsync(busy, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            // Quiet from now on only if the lease before this query saw the store whole (no signal since).
            if (_knownGeneration == generation && _signal.Generation == generation)
            {
                var poll = now + PollWhileQuiet;
                _quietUntil = next is { } at && at < poll ? at : poll;
                _quietGeneration = generation;
            }

            DateTimeOffset? look = next is { } found ? OwnNextLocked(found) : _ownDues.TryPeek(out var own, out _) ? own : null;
            _lookAt = look ?? DateTimeOffset.MaxValue;
            return look;
        }
    }

    private DateTimeOffset OwnNextLocked(DateTimeOffset at) => _ownDues.TryPeek(out var own, out _) && own < at ? own : at;

    private void IdleIfDoneLocked()
    {
        if (_running == 0 && _waiting == 0 && _writes == 0 && _reserved == 0) _idle.TrySetResult();
    }
}
