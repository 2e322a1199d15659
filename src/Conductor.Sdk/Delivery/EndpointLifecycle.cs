using System.Collections.Concurrent;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Events;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Delivery;

/// <summary>One endpoint as an operator sees it: its shared state and its backlog.</summary>
/// <param name="Endpoint">The endpoint's key.</param>
/// <param name="State">Its state in the store (a healthy endpoint that never failed has one with no times set).</param>
/// <param name="Due">Due deliveries waiting for it (as of <paramref name="CountedAt"/>).</param>
/// <param name="OldestDue">The due time of the oldest of them.</param>
/// <param name="CountedAt">When the backlog was counted.</param>
public sealed record EndpointStatus(string Endpoint, EndpointState State, long Due, DateTimeOffset? OldestDue, DateTimeOffset CountedAt)
{
    /// <summary>Healthy, failing or disabled.</summary>
    public EndpointHealth Health => State.Health;

    /// <summary>How long the oldest due delivery has waited, or zero.</summary>
    public TimeSpan OldestDueAge => OldestDue is { } due && CountedAt > due ? CountedAt - due : TimeSpan.Zero;
}

/// <summary>What the last endpoint check saw (the endpoint gauges and the health check read it).</summary>
public sealed record EndpointSnapshot(DateTimeOffset At, IReadOnlyList<EndpointStatus> Endpoints);

/// <summary>
/// Lists, disables and enables endpoints (the dashboard and applications use it; the CLI works on the store directly).
/// A disabled endpoint's deliveries are kept and not attempted; enabling it sends them in due order.
/// </summary>
public interface IEndpointAdmin
{
    /// <summary>Every endpoint that has a state, a backlog or a registered notification, by key.</summary>
    Task<IReadOnlyList<EndpointStatus>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Disables an endpoint (raises <c>endpoint.disabled</c>). False if it was already disabled.</summary>
    Task<bool> DisableAsync(string endpoint, string reason, CancellationToken cancellationToken = default);

    /// <summary>Enables a disabled endpoint (raises <c>endpoint.enabled</c>). False if it was not disabled.</summary>
    Task<bool> EnableAsync(string endpoint, CancellationToken cancellationToken = default);
}

/// <summary>
/// The endpoint lifecycle of this process: healthy, failing (since when, last error), disabled (why, since when), kept
/// in the store (<see cref="IEndpointStateStore"/>) so that every process agrees.
/// <list type="bullet">
/// <item>The processor reports each attempt (<see cref="Observe"/>). A delivered attempt to an endpoint this process does
/// not know as failing costs one dictionary check, no write. A failure to a healthy endpoint is written at once (it
/// becomes failing, <c>endpoint.failing</c>); later failures are counted in memory and written at each check.</item>
/// <item>Every <see cref="ConductorEndpointOptions.CheckInterval"/> (<see cref="CheckAsync"/>): write the counts, read
/// the states (so a disable or enable by another process or the CLI takes effect), disable endpoints that failed for
/// <see cref="ConductorEndpointOptions.DisableAfter"/>, and count each endpoint's backlog for the gauges and the health
/// check.</item>
/// <item>A <c>410 Gone</c> dead-letters its delivery (no retry) and counts as a failure of the endpoint, like any failed
/// attempt; it does not disable the endpoint, whose other URLs may be alive (docs/endpoints.md).</item>
/// </list>
/// </summary>
public sealed class EndpointLifecycle : IEndpointAdmin
{
    private readonly IEndpointStateStore? _states;
    private readonly ConductorEndpointOptions _options;
    private readonly TimeProvider _time;
    private readonly OperationalEventPump? _events;
    private readonly ConductorTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<string> _registered;
    private readonly ConcurrentDictionary<string, Tracker> _trackers = new(StringComparer.Ordinal);
    private IReadOnlySet<string> _disabled = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Creates the lifecycle.</summary>
    public EndpointLifecycle(
        IDeliveryStore store,
        Notifications.NotificationRegistry registry,
        IEnumerable<INotificationChannel> channels,
        IOptions<ConductorOptions> options,
        TimeProvider time,
        ConductorTelemetry telemetry,
        OperationalEventPump? events = null,
        ILogger<EndpointLifecycle>? logger = null)
    {
        _states = store as IEndpointStateStore;
        _options = options.Value.Endpoints;
        _time = time;
        _events = events;
        _telemetry = telemetry;
        _logger = logger ?? NullLogger<EndpointLifecycle>.Instance;
        var byChannel = channels.GroupBy(c => c.Channel, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _registered = registry.All.Where(n => byChannel.ContainsKey(n.Channel)).Select(n => byChannel[n.Channel].EndpointOf(n))
            .Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Endpoints that are disabled, as this process last saw them.</summary>
    public IReadOnlySet<string> Disabled => Volatile.Read(ref _disabled);

    /// <summary>Raised when the set of disabled endpoints changes (the processor stops or resumes them).</summary>
    internal event Action<IReadOnlySet<string>>? DisabledChanged;

    /// <summary>Called by the processor for every attempt, with the delivery's next status.</summary>
    internal void Observe(DeliveryRecord delivery, AttemptLog attempt, DeliveryStatus next)
    {
        if (next == DeliveryStatus.DeadLettered)
        {
            _events?.Publish(new OperationalEvent(OperationalEventNames.DeliveryDeadLettered, attempt.StartedAt + attempt.Duration, delivery.Endpoint, Delivery: delivery, Attempt: attempt));
        }

        if (_states is null) return;
        if (attempt.Outcome == AttemptOutcome.Delivered)
        {
            // The common case: nothing of this endpoint is known to fail.
            if (_trackers.IsEmpty || !_trackers.TryGetValue(delivery.Endpoint, out var known)) return;
            if (known.Succeeded()) Recovered(delivery.Endpoint);
            return;
        }

        // A permanent failure of an email, SMS or push delivery is about its recipient (a bad address, an unregistered
        // device), not the provider: only transient failures count for those. A webhook's endpoint is the receiver itself.
        var webhook = delivery.Channel == "webhook";
        if (attempt.Outcome == AttemptOutcome.Permanent && !webhook) return;
        var tracker = _trackers.GetOrAdd(delivery.Endpoint, static _ => new Tracker());
        var error = Describe(attempt);
        if (tracker.Failed(attempt.Number == 1, error, attempt.StartedAt + attempt.Duration)) Flush(delivery.Endpoint, tracker);
    }

    // The background work of Observe in methods of their own: a lambda in Observe would allocate its closure on every
    // attempt, including the delivered ones that return early.
    private void Recovered(string endpoint) => _ = Background(() => RecoveredAsync(endpoint));

    private void Flush(string endpoint, Tracker tracker) => _ = Background(() => FlushAsync(endpoint, tracker, CancellationToken.None));

    private static string Describe(AttemptLog attempt) =>
        attempt.Error is { Length: > 0 } error
            ? (attempt.StatusCode is int code && !error.StartsWith("HTTP ", StringComparison.Ordinal) ? $"HTTP {code}: {error}" : error)
            : attempt.StatusCode is int status ? $"HTTP {status}" : attempt.ErrorKind.ToString();

    /// <summary>
    /// One check: writes failure counts, reads the shared states, disables endpoints that failed for too long, counts the
    /// backlogs. The endpoint monitor runs it every <see cref="ConductorEndpointOptions.CheckInterval"/>.
    /// </summary>
    public async Task<EndpointSnapshot> CheckAsync(CancellationToken cancellationToken = default)
    {
        if (_states is null) return new EndpointSnapshot(_time.GetUtcNow(), Array.Empty<EndpointStatus>());
        foreach (var (endpoint, tracker) in _trackers) await FlushAsync(endpoint, tracker, cancellationToken).ConfigureAwait(false);
        var states = await RefreshAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var disabled = false;
        if (_options.DisableAfter != Timeout.InfiniteTimeSpan)
        {
            foreach (var state in states)
            {
                if (state is { Health: EndpointHealth.Failing, FailingSince: { } since } && now - since >= _options.DisableAfter && state.FailedDeliveries >= _options.DisableAfterFailedDeliveries)
                {
                    disabled |= await DisableAsync(state.Endpoint,
                        $"every attempt failed for {Format(now - since)} (since {since:u}: {state.FailedAttempts} attempts of {state.FailedDeliveries} deliveries; last error: {state.LastError})",
                        cancellationToken).ConfigureAwait(false);
                }
            }
        }

        // The states just read serve the snapshot, unless this check changed one.
        var snapshot = new EndpointSnapshot(now, disabled
            ? await StatusesAsync(now, cancellationToken).ConfigureAwait(false)
            : Join(states, await _states.EndpointBacklogAsync(now, cancellationToken).ConfigureAwait(false), _registered, now));
        _telemetry.Endpoints = snapshot;
        return snapshot;
    }

    /// <summary>Reads the shared states and applies the disabled set (also run once before the worker starts).</summary>
    internal async Task<IReadOnlyList<EndpointState>> RefreshAsync(CancellationToken cancellationToken)
    {
        if (_states is null) return Array.Empty<EndpointState>();
        var states = await _states.EndpointsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var state in states)
        {
            // An endpoint another process saw failing gets a tracker here too, so that a delivery made by this process
            // records it healthy again (otherwise it could stay failing, and be disabled, while it delivers).
            if (state.Health != EndpointHealth.Healthy) _trackers.GetOrAdd(state.Endpoint, static _ => new Tracker()).Known(true);
            else if (_trackers.TryGetValue(state.Endpoint, out var tracker)) tracker.Known(false);
        }

        SetDisabled(states.Where(s => s.Health == EndpointHealth.Disabled).Select(s => s.Endpoint));
        return states;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<EndpointStatus>> ListAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        return await StatusesAsync(now, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<EndpointStatus>> StatusesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_states is null) return Array.Empty<EndpointStatus>();
        return Join(await _states.EndpointsAsync(cancellationToken).ConfigureAwait(false),
            await _states.EndpointBacklogAsync(now, cancellationToken).ConfigureAwait(false), _registered, now);
    }

    /// <summary>States, backlogs and known endpoints, one status per endpoint, by key (the CLI uses it too).</summary>
    public static IReadOnlyList<EndpointStatus> Join(IReadOnlyList<EndpointState> states, IReadOnlyList<EndpointBacklog> backlogs, IEnumerable<string> known, DateTimeOffset now)
    {
        var byState = states.ToDictionary(s => s.Endpoint, StringComparer.Ordinal);
        var byBacklog = backlogs.ToDictionary(b => b.Endpoint, StringComparer.Ordinal);
        return byState.Keys.Concat(byBacklog.Keys).Concat(known).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(endpoint => new EndpointStatus(endpoint,
                byState.GetValueOrDefault(endpoint) ?? new EndpointState(endpoint, EndpointHealth.Healthy, null, 0, 0, null, null, null, null, now),
                byBacklog.GetValueOrDefault(endpoint)?.Due ?? 0, byBacklog.GetValueOrDefault(endpoint)?.OldestDue, now))
            .ToList();
    }

    /// <inheritdoc />
    public async Task<bool> DisableAsync(string endpoint, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        var states = Require();
        var now = _time.GetUtcNow();
        if (!await states.DisableEndpointAsync(endpoint, now, reason, cancellationToken).ConfigureAwait(false)) return false;
        Log.EndpointDisabled(_logger, endpoint, reason);
        var state = (await states.EndpointsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(s => s.Endpoint == endpoint);
        SetDisabled(Disabled.Append(endpoint));
        _events?.Publish(new OperationalEvent(OperationalEventNames.EndpointDisabled, now, endpoint, state));
        return true;
    }

    /// <inheritdoc />
    public async Task<bool> EnableAsync(string endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        var states = Require();
        var now = _time.GetUtcNow();
        if (!await states.EnableEndpointAsync(endpoint, now, cancellationToken).ConfigureAwait(false)) return false;
        Log.EndpointEnabled(_logger, endpoint);
        _trackers.TryRemove(endpoint, out _);
        SetDisabled(Disabled.Where(e => e != endpoint));
        _events?.Publish(new OperationalEvent(OperationalEventNames.EndpointEnabled, now, endpoint,
            new EndpointState(endpoint, EndpointHealth.Healthy, null, 0, 0, null, null, null, null, now)));
        return true;
    }

    private IEndpointStateStore Require() => _states ?? throw new NotSupportedException(
        "The delivery store does not keep endpoint states (IEndpointStateStore); use the SQLite, PostgreSQL or in-memory store.");

    private void SetDisabled(IEnumerable<string> endpoints)
    {
        var set = new HashSet<string>(endpoints, StringComparer.Ordinal);
        lock (_trackers)
        {
            if (set.SetEquals(_disabled)) return;
            Volatile.Write(ref _disabled, set);
        }

        DisabledChanged?.Invoke(set);
    }

    private async Task FlushAsync(string endpoint, Tracker tracker, CancellationToken cancellationToken)
    {
        if (!tracker.TakePending(out var attempts, out var deliveries, out var error, out var at)) return;
        try
        {
            var (state, started) = await Require().RecordEndpointFailuresAsync(endpoint, at, attempts, deliveries, error, cancellationToken).ConfigureAwait(false);
            tracker.Written(failing: true);
            if (!started) return;
            Log.EndpointFailing(_logger, endpoint, state.FailingSince ?? at, state.FailedAttempts, state.LastError);
            _events?.Publish(new OperationalEvent(OperationalEventNames.EndpointFailing, at, endpoint, state));
        }
        catch
        {
            tracker.Restore(attempts, deliveries, error, at);
            throw;
        }
    }

    private async Task RecoveredAsync(string endpoint)
    {
        var since = (await Require().EndpointsAsync().ConfigureAwait(false)).FirstOrDefault(s => s.Endpoint == endpoint)?.FailingSince;
        if (await Require().RecordEndpointSuccessAsync(endpoint, _time.GetUtcNow()).ConfigureAwait(false) && since is { } s) Log.EndpointRecovered(_logger, endpoint, s);
    }

    /// <summary>Runs a state write off the attempt's path; a failure is logged and retried by the next check.</summary>
    private async Task Background(Func<Task> write)
    {
        try
        {
            await Task.Yield();
            await write().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.EndpointCheckFailed(_logger, ex, _options.CheckInterval);
        }
    }

    private static string Format(TimeSpan span) =>
        span.TotalDays >= 1 ? $"{span.TotalDays:0.#} days" : span.TotalHours >= 1 ? $"{span.TotalHours:0.#} hours" : $"{span.TotalMinutes:0} minutes";

    /// <summary>What this process knows of one endpoint that failed: failures not yet written, and whether the store has it failing.</summary>
    private sealed class Tracker
    {
        private long _attempts, _deliveries;
        private string? _error;
        private DateTimeOffset _at;
        private bool _failing, _writing;

        /// <summary>Counts a failure; true when it should be written now (the store does not have the endpoint failing yet).</summary>
        public bool Failed(bool newDelivery, string error, DateTimeOffset at)
        {
            lock (this)
            {
                _attempts++;
                if (newDelivery) _deliveries++;
                _error = error;
                _at = at;
                if (_failing || _writing) return false;
                _writing = true;
                return true;
            }
        }

        /// <summary>A delivered attempt; true when the store has the endpoint failing and should be told.</summary>
        public bool Succeeded()
        {
            lock (this)
            {
                _attempts = _deliveries = 0;
                var was = _failing;
                _failing = false;
                return was;
            }
        }

        public void Known(bool failing)
        {
            lock (this) _failing = failing;
        }

        public bool TakePending(out long attempts, out long deliveries, out string? error, out DateTimeOffset at)
        {
            lock (this)
            {
                (attempts, deliveries, error, at) = (_attempts, _deliveries, _error, _at);
                _attempts = _deliveries = 0;
                if (attempts == 0) _writing = false;
                return attempts > 0;
            }
        }

        public void Written(bool failing)
        {
            lock (this)
            {
                _failing = failing;
                _writing = false;
            }
        }

        public void Restore(long attempts, long deliveries, string? error, DateTimeOffset at)
        {
            lock (this)
            {
                _attempts += attempts;
                _deliveries += deliveries;
                _error ??= error;
                if (_at < at) _at = at;
                _writing = false;
            }
        }
    }
}

/// <summary>Runs <see cref="EndpointLifecycle.CheckAsync"/> every <see cref="ConductorEndpointOptions.CheckInterval"/>; reads the states once before the worker starts.</summary>
internal sealed class EndpointMonitor(EndpointLifecycle lifecycle, IOptions<ConductorOptions> options, TimeProvider time, ILogger<EndpointMonitor>? logger = null) : BackgroundService
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Disabled endpoints are known before the first lease.
            await lifecycle.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.EndpointCheckFailed(_logger, ex, options.Value.Endpoints.CheckInterval);
        }

        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.Endpoints.CheckInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await lifecycle.CheckAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.EndpointCheckFailed(_logger, ex, interval);
            }

            try
            {
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
