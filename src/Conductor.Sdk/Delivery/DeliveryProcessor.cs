using Conductor.Sdk.Channels;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// Runs due deliveries: leases them from the store, sends each through its endpoint's isolation pipeline
/// and its channel, and records every attempt's outcome (delivered, retry at the next scheduled time, or
/// dead letter). Attempts run concurrently and are not awaited as a batch; each endpoint gets at most
/// <see cref="ConductorOptions.MaxConcurrentPerEndpoint"/> of them, so a hanging receiver never holds up
/// deliveries to others.
/// </summary>
public sealed partial class DeliveryProcessor
{
    // Enum.ToString boxes the value: the tag values are looked up instead (the outcome is tagged on every attempt).
    private static readonly string[] OutcomeNames = Enum.GetValues<AttemptOutcome>().Select(o => o.ToString()).ToArray();
    private readonly IDeliveryStore _store;
    private readonly NotificationRegistry _registry;
    private readonly Dictionary<string, INotificationChannel> _channels;
    private readonly EndpointIsolation _isolation;
    private readonly ConductorOptions _options;
    private readonly TimeProvider _time;
    private readonly ConductorTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly DeliverySignal _signal;
    private TaskCompletionSource _idle = NewIdle(completed: true);
    private readonly GateSemaphore _leaseGate = new(1, 1);
    private readonly object _gate = new();
    // The deliveries this process runs or holds in endpoint queues. A process that stalled past a lease (a long GC pause,
    // a suspended VM) finds its own deliveries due again; a lease that returns one of them must not start it twice.
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EndpointSlots> _endpoints = new(StringComparer.Ordinal);
    private readonly TimeSpan _longestAttempt;
    private int _running;
    private int _writes;
    // Counted under the lock at every change to the work in hand (see Changes).
    private long _changes;
    // Outcome writes not yet completed, in the order they were made, and whether PumpWritesAsync is waiting on them.
    private readonly Queue<(ValueTask Write, AttemptLog Log)> _unrecorded = new();
    private bool _pumping;
    private int _waiting;
    private int _reserved;
    private readonly Dictionary<string, RateLimit> _rates = new(StringComparer.Ordinal);
    private readonly EndpointLifecycle? _lifecycle;

    /// <summary>Creates a processor.</summary>
    public DeliveryProcessor(
        IDeliveryStore store,
        NotificationRegistry registry,
        IEnumerable<INotificationChannel> channels,
        EndpointIsolation isolation,
        IOptions<ConductorOptions> options,
        TimeProvider time,
        ConductorTelemetry telemetry,
        DeliverySignal signal,
        ILogger<DeliveryProcessor>? logger = null,
        EndpointLifecycle? lifecycle = null)
    {
        _signal = signal;
        signal.Processor = this;
        _longestAttempt = registry.All.Select(n => n.AttemptTimeout).DefaultIfEmpty(TimeSpan.Zero).Max();
        _store = store;
        _registry = registry;
        // The last registration of a channel wins, so an application (or a test) can replace a built-in one.
        _channels = channels.GroupBy(c => c.Channel, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _isolation = isolation;
        _options = options.Value;
        _time = time;
        _telemetry = telemetry;
        _logger = logger ?? NullLogger<DeliveryProcessor>.Instance;
        // The smallest declared rate of each endpoint (YAML rate-limit:), applied to all of its deliveries.
        foreach (var notification in registry.All)
        {
            if (notification.RateLimit is not { } rate || !_channels.TryGetValue(notification.Channel, out var channel)) continue;
            var endpoint = channel.EndpointOf(notification);
            if (!_rates.TryGetValue(endpoint, out var other) || rate.Interval > other.Interval) _rates[endpoint] = rate;
        }

        isolation.Opened += (endpoint, breakFor) => Hold(endpoint, _time.GetUtcNow() + breakFor, probe: true, "its circuit breaker opened; one probe is sent when the break ends");
        isolation.Closed += EndProbe;
        _lifecycle = lifecycle;
        if (lifecycle is not null)
        {
            lifecycle.DisabledChanged += SetDisabled;
            if (lifecycle.Disabled.Count > 0) SetDisabled(lifecycle.Disabled);
        }
    }

    /// <summary>Attempts currently running.</summary>
    public int InFlight
    {
        get
        {
            lock (_gate) return _running;
        }
    }

    /// <summary>
    /// A snapshot of the work in hand: attempts running, deliveries waiting in endpoint queues, and outcomes being
    /// written to the store (tools and the test kit use it to tell "settled" from "busy").
    /// </summary>
    public (int Running, int Queued, int Writing) Load
    {
        get
        {
            lock (_gate) return (_running, _waiting, _writes);
        }
    }

    /// <summary>
    /// Counts the changes to the work in hand (a lease admitted, a handed-over delivery admitted, an attempt finished), so
    /// that a test that moves its clock only while the pipeline is idle can tell that nothing changed between its reads of
    /// <see cref="Load"/> and the worker's state (tests only).
    /// </summary>
    internal long Changes
    {
        get
        {
            lock (_gate) return _changes;
        }
    }

    /// <summary>True when another attempt may start or wait in an endpoint queue.</summary>
    public bool HasCapacity
    {
        get
        {
            lock (_gate) return LeaseCapacity() > 0;
        }
    }

    /// <summary>Raised after each attempt is recorded (tests and diagnostics wait on it).</summary>
    public event Action<AttemptLog>? AttemptRecorded;

    /// <summary>
    /// Leases what is due now and starts it, up to the global and per-endpoint limits. Deliveries whose endpoint
    /// is at its limit wait in that endpoint's queue (holding their lease, not a worker slot) and start as its
    /// attempts finish; once that queue is full the endpoint is skipped when leasing, so its backlog stays in the
    /// store and never blocks other endpoints. Returns how many deliveries were leased.
    /// </summary>
    public async Task<int> StartDueAsync(CancellationToken cancellationToken = default)
    {
        await _leaseGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var leasedTotal = 0;
            while (true)
            {
                int capacity;
                IReadOnlyCollection<string> busy;
                long stamp, generation;
                var now = _time.GetUtcNow();
                lock (_gate)
                {
                    capacity = LeaseCapacity();
                    // A query that can only walk past the rows of endpoints with full queues is not made (see QuietLocked).
                    if (capacity <= 0 || QuietLocked(now)) return leasedTotal;
                    busy = BusyEndpointsLocked();
                    stamp = ++_stamp;
                    generation = _signal.Generation;
                }

                var leased = await _store.LeaseDueAsync(now, capacity, now + _options.LeaseDuration, busy, cancellationToken).ConfigureAwait(false);
                var toStart = new List<DeliveryRecord>();
                var overflow = new List<DeliveryRecord>();
                lock (_gate)
                {
                    _changes++;
                    foreach (var delivery in leased)
                    {
                        // Already running or queued here: the attempt in hand records its outcome, which ends this lease.
                        if (_held.Contains(delivery.Id)) continue;
                        var endpoint = EndpointState(delivery.Endpoint);
                        if (CanStartLocked(endpoint, now))
                        {
                            MarkBusy();
                            endpoint.Running++;
                            _running++;
                            _held.Add(delivery.Id);
                            toStart.Add(delivery);
                        }
                        else if (endpoint.Waiting.Count < _options.MaxQueuedPerEndpoint)
                        {
                            MarkBusy();
                            _held.Add(delivery.Id);
                            endpoint.Waiting.Enqueue((delivery, now));
                            _waiting++;
                        }
                        else
                        {
                            overflow.Add(delivery);
                        }
                    }

                    // Fewer than asked: nothing else is due outside the busy endpoints, as of this query.
                    if (leased.Count < capacity) LeasedAllLocked(busy, stamp, generation);
                }

                // Notify calls waiting for this look ask again now, not after the loop's next query (the finally covers
                // the exits that make none).
                ReleaseReserveWaiters();

                foreach (var delivery in toStart) Launch(delivery, cancellationToken);
                // Hand back, due as before, what did not fit: its endpoint is now busy, so the next lease skips it.
                foreach (var delivery in overflow)
                {
                    await _store.ReleaseAsync(delivery.Id, delivery.DueAt, cancellationToken).ConfigureAwait(false);
                    Due(delivery.Endpoint, delivery.DueAt);
                }

                leasedTotal += leased.Count;
                if (leased.Count < capacity) return leasedTotal;
            }
        }
        finally
        {
            _leaseGate.Release();
            ReleaseReserveWaiters();
        }
    }

    /// <summary>Waits until no attempt is running, waiting in an endpoint queue, or being written to the store.</summary>
    public Task WhenIdleAsync()
    {
        lock (_gate) return _idle.Task;
    }

    /// <summary>Starts everything due now and waits for those attempts to be recorded (tests, tools).</summary>
    public async Task<int> RunDueAsync(CancellationToken cancellationToken = default)
    {
        var started = await StartDueAsync(cancellationToken).ConfigureAwait(false);
        await WhenIdleAsync().ConfigureAwait(false);
        return started;
    }

    /// <summary>Endpoints whose queue is full: the store leaves their deliveries in place for now.</summary>
    public IReadOnlyCollection<string> BusyEndpoints
    {
        get
        {
            lock (_gate) return BusyEndpointsLocked();
        }
    }

    private IReadOnlyCollection<string> BusyEndpointsLocked()
    {
        List<string>? busy = null;
        foreach (var (endpoint, state) in _endpoints)
        {
            // Busy once a whole batch might not fit in its queue: leasing then skips it, so little is ever handed back.
            if (IsSaturated(state)) (busy ??= new()).Add(endpoint);
        }

        return busy is null ? Array.Empty<string>() : busy;
    }

    private int LeaseCapacity() =>
        Math.Min(_options.BatchSize, _options.MaxConcurrentDeliveries - _running + _options.MaxQueuedTotal - _waiting - _reserved);

    private EndpointSlots EndpointState(string endpoint)
    {
        if (!_endpoints.TryGetValue(endpoint, out var state))
        {
            _endpoints[endpoint] = state = new EndpointSlots(endpoint) { Rate = _rates.TryGetValue(endpoint, out var rate) ? rate : null };
        }

        return state;
    }

    private static TaskCompletionSource NewIdle(bool completed)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed) source.SetResult();
        return source;
    }

    /// <summary>Called under the lock whenever a delivery is admitted (running or waiting).</summary>
    private void MarkBusy()
    {
        if (_idle.Task.IsCompleted) _idle = NewIdle(completed: false);
    }

    private void Launch(DeliveryRecord delivery, CancellationToken cancellationToken)
    {
        // Under systematic testing (ControlledScheduling) a task Coyote controls; otherwise a work item that does not
        // capture the execution context.
        if (ControlledScheduling.Enabled) LaunchControlled(delivery, cancellationToken);
        else ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Processor.RunAsync(state.Delivery, state.Token), (Processor: this, Delivery: delivery, Token: cancellationToken), preferLocal: false);
    }

    // A method of its own: the lambda's closure would otherwise be allocated on every launch, controlled or not.
    private void LaunchControlled(DeliveryRecord delivery, CancellationToken cancellationToken) =>
        _ = Task.Run(() => RunAsync(delivery, cancellationToken), CancellationToken.None);

    /// <summary>
    /// Runs a delivery, then keeps its slot for the next delivery waiting for the same endpoint: the slot's
    /// flow carries on like a loop of requests instead of hopping to a new work item each time.
    /// </summary>
    private async Task RunAsync(DeliveryRecord first, CancellationToken cancellationToken)
    {
        for (DeliveryRecord? delivery = first; delivery is not null;)
        {
            try
            {
                await ProcessAsync(delivery, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The attempt could not be recorded (the store failed); its lease expires and it is attempted again.
                Log.WorkerFailed(_logger, ex);
            }

            delivery = Finished(delivery, cancellationToken);
        }
    }

    /// <summary>
    /// Frees the slot of a finished attempt. Returns the same endpoint's next waiting delivery, which takes the
    /// slot over, and starts waiting deliveries of other endpoints that now fit.
    /// </summary>
    private DeliveryRecord? Finished(DeliveryRecord finished, CancellationToken cancellationToken)
    {
        List<DeliveryRecord>? toStart = null;
        List<DeliveryRecord>? expired = null;
        DeliveryRecord? next = null;
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            var state = _endpoints[finished.Endpoint];
            _changes++;
            state.Running--;
            _running--;
            _held.Remove(finished.Id);
            next = Take(state, now, ref expired);
            if (_running < _options.MaxConcurrentDeliveries && _waiting > 0)
            {
                foreach (var other in _endpoints.Values)
                {
                    while (_running < _options.MaxConcurrentDeliveries && Take(other, now, ref expired) is { } started)
                    {
                        (toStart ??= new()).Add(started);
                    }
                }
            }

            IdleIfDoneLocked();
            // Wake the worker to lease more only when the queues run low and the store may hold due work for a free endpoint.
            // Woken under the lock, with the slot's release: whoever sees this attempt gone (Load, WhenIdleAsync) also finds
            // the worker's signal already given, so "no attempt running and the worker asleep" never holds in between while
            // a round is about to start. (Found by the systematic tests: with the wake after the lock, a test clock moved
            // in that gap and a retry due then started 10 minutes late.) The signal's waiter resumes asynchronously.
            if (_waiting <= _options.BatchSize / 2 && !QuietLocked(now)) _signal.Wake();
        }

        if (toStart is not null)
        {
            foreach (var delivery in toStart) Launch(delivery, cancellationToken);
        }

        if (expired is not null)
        {
            foreach (var delivery in expired)
            {
                _ = _store.ReleaseAsync(delivery.Id, now, CancellationToken.None).AsTask();
                Due(delivery.Endpoint, now);
            }
        }

        return next;
    }

    /// <summary>Gives a free slot of <paramref name="candidate"/> to its oldest waiting delivery (called under the lock).</summary>
    private DeliveryRecord? Take(EndpointSlots candidate, DateTimeOffset now, ref List<DeliveryRecord>? expired)
    {
        while (candidate.Waiting.Count > 0 && CanStartLocked(candidate, now))
        {
            var (delivery, leasedAt) = candidate.Waiting.Dequeue();
            _waiting--;
            // A delivery that waited so long that its lease could lapse mid-attempt goes back to the store instead.
            if (now - leasedAt > _options.LeaseDuration - _longestAttempt)
            {
                _held.Remove(delivery.Id);
                (expired ??= new()).Add(delivery);
                continue;
            }

            candidate.Running++;
            _running++;
            return delivery;
        }

        return null;
    }

    /// <summary>Busy once a whole batch might not fit in its queue (deliveries handed over and not yet admitted count as queued).</summary>
    /// <remarks>A paused endpoint (disabled, breaker open, postponed by a 429, waiting for its rate) counts as busy: its rows stay in the store.</remarks>
    /// While a breaker's probe is out, the endpoint is busy too: nothing more of it is leased until the probe is answered.
    private bool IsSaturated(EndpointSlots slots) =>
        slots.Paused || (slots.Probe && slots.Running > 0)
        || (slots.Running >= _options.MaxConcurrentPerEndpoint && slots.Waiting.Count + slots.Reserved + _options.BatchSize > _options.MaxQueuedPerEndpoint);

    private sealed class EndpointSlots(string name)
    {
        public readonly string Name = name;

        /// <summary>No delivery starts: disabled, or held until <see cref="HeldUntil"/>.</summary>
        public bool Paused;
        public bool Disabled;
        public DateTimeOffset HeldUntil;
        public ITimer? HoldTimer;

        /// <summary>After a breaker opened: one attempt at a time (the probe) until it closes.</summary>
        public bool Probe;

        /// <summary>The endpoint's rate limit, and the time its next attempt is due at that rate (GCRA's theoretical arrival time).</summary>
        public RateLimit? Rate;
        public DateTimeOffset RateNext;
        public int Running;
        public readonly Queue<(DeliveryRecord Delivery, DateTimeOffset LeasedAt)> Waiting = new();

        /// <summary>Deliveries handed over by <see cref="TryReserve"/> whose store write has not completed yet.</summary>
        public int Reserved;

        /// <summary>Nonzero when the store may hold due deliveries of this endpoint that no lease has taken yet: the stamp of when that became so.</summary>
        public long Backlog;
    }
}
