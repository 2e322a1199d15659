using System.Diagnostics;
using System.Diagnostics.Metrics;
using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Diagnostics;

/// <summary>
/// Metrics and traces under the name <c>Conductor.Sdk</c>, ready for OpenTelemetry
/// (<c>AddMeter("Conductor.Sdk")</c>, <c>AddSource("Conductor.Sdk")</c>).
/// </summary>
public sealed class ConductorTelemetry : IDisposable
{
    /// <summary>The meter and activity source name.</summary>
    public const string Name = "Conductor.Sdk";

    /// <summary>Traces of delivery attempts and dispatches.</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/> (or a private one).</summary>
    public ConductorTelemetry(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(Name) ?? new Meter(Name);
        Enqueued = _meter.CreateCounter<long>("conductor.deliveries.enqueued", "{delivery}", "Deliveries created from events.");
        Attempted = _meter.CreateCounter<long>("conductor.deliveries.attempted", "{attempt}", "Delivery attempts made.");
        Succeeded = _meter.CreateCounter<long>("conductor.deliveries.succeeded", "{delivery}", "Deliveries delivered.");
        Retried = _meter.CreateCounter<long>("conductor.deliveries.retried", "{delivery}", "Failed attempts scheduled for a retry.");
        DeadLettered = _meter.CreateCounter<long>("conductor.deliveries.dead_lettered", "{delivery}", "Deliveries that failed for good.");
        AttemptDuration = _meter.CreateHistogram<double>("conductor.delivery.attempt.duration", "ms", "Duration of one delivery attempt.");
        Runs = _meter.CreateCounter<long>("conductor.executions", "{execution}", "Ensemble runs that ended, by conductor.ensemble and conductor.status (completed, failed, timeout).");
        RunDuration = _meter.CreateHistogram<double>("conductor.execution.duration", "ms", "Duration of one ensemble run.");
        Pruned = _meter.CreateCounter<long>("conductor.deliveries.pruned", "{delivery}", "Finished deliveries removed when their retention ended, by conductor.status.");
        _meter.CreateObservableGauge("conductor.store.deliveries", ObserveRows, "{delivery}",
            "Deliveries in the store by conductor.status (pending, delivered, dead_lettered), as counted by the last pruning pass.");
        _meter.CreateObservableGauge("conductor.store.size", ObserveSize, "By", "Bytes the delivery store takes on disk, as measured by the last pruning pass.");
        OperationalEvents = _meter.CreateCounter<long>("conductor.operational.events", "{event}",
            "Operational events raised by this process, by conductor.event (endpoint.failing, endpoint.disabled, endpoint.enabled, delivery.dead-lettered).");
        _meter.CreateObservableGauge("conductor.endpoint.backlog", ObserveBacklog, "{delivery}",
            "Due deliveries waiting per endpoint (conductor.endpoint), as counted by the last endpoint check.");
        _meter.CreateObservableGauge("conductor.endpoint.oldest_due_age", ObserveOldest, "s",
            "Age of the oldest due delivery per endpoint (conductor.endpoint), as of the last endpoint check.");
        _meter.CreateObservableGauge("conductor.endpoint.state", ObserveStates, "{endpoint}",
            "1 for each endpoint's current state (conductor.endpoint, conductor.state: healthy, failing, disabled), as of the last endpoint check.");
    }

    private Delivery.EndpointSnapshot? _endpoints;

    /// <summary>Operational events raised (tag: conductor.event).</summary>
    public Counter<long> OperationalEvents { get; }

    /// <summary>What the last endpoint check saw (what the endpoint gauges report), or null before the first.</summary>
    public Delivery.EndpointSnapshot? Endpoints
    {
        get => Volatile.Read(ref _endpoints);
        internal set => Volatile.Write(ref _endpoints, value);
    }

    private IEnumerable<Measurement<long>> ObserveBacklog()
    {
        if (Endpoints is not { } snapshot) yield break;
        foreach (var e in snapshot.Endpoints) yield return new Measurement<long>(e.Due, new KeyValuePair<string, object?>("conductor.endpoint", e.Endpoint));
    }

    private IEnumerable<Measurement<double>> ObserveOldest()
    {
        if (Endpoints is not { } snapshot) yield break;
        foreach (var e in snapshot.Endpoints)
        {
            if (e.OldestDue is { } due) yield return new Measurement<double>(Math.Max(0, (snapshot.At - due).TotalSeconds), new KeyValuePair<string, object?>("conductor.endpoint", e.Endpoint));
        }
    }

    private IEnumerable<Measurement<int>> ObserveStates()
    {
        if (Endpoints is not { } snapshot) yield break;
        foreach (var e in snapshot.Endpoints)
        {
            yield return new Measurement<int>(1, new KeyValuePair<string, object?>("conductor.endpoint", e.Endpoint),
                new KeyValuePair<string, object?>("conductor.state", e.Health.ToString().ToLowerInvariant()));
        }
    }

    private DeliveryStoreUsage? _usage;

    /// <summary>Deliveries removed by retention (tag: status).</summary>
    public Counter<long> Pruned { get; }

    /// <summary>What the store held at the last pruning pass (what the store gauges report), or null before the first.</summary>
    public DeliveryStoreUsage? StoreUsage
    {
        get => Volatile.Read(ref _usage);
        internal set => Volatile.Write(ref _usage, value);
    }

    private IEnumerable<Measurement<long>> ObserveRows()
    {
        if (StoreUsage is not { } usage) yield break;
        yield return new Measurement<long>(usage.Pending, new KeyValuePair<string, object?>("conductor.status", "pending"));
        yield return new Measurement<long>(usage.Delivered, new KeyValuePair<string, object?>("conductor.status", "delivered"));
        yield return new Measurement<long>(usage.DeadLettered, new KeyValuePair<string, object?>("conductor.status", "dead_lettered"));
    }

    private IEnumerable<Measurement<long>> ObserveSize()
    {
        if (StoreUsage is { } usage) yield return new Measurement<long>(usage.Bytes);
    }

    /// <summary>Runs that ended (tags: ensemble, status).</summary>
    public Counter<long> Runs { get; }

    /// <summary>Run durations in milliseconds.</summary>
    public Histogram<double> RunDuration { get; }

    /// <summary>The meter all instruments belong to.</summary>
    internal Meter Meter => _meter;

    /// <summary>Deliveries created.</summary>
    public Counter<long> Enqueued { get; }

    /// <summary>Attempts made.</summary>
    public Counter<long> Attempted { get; }

    /// <summary>Deliveries delivered.</summary>
    public Counter<long> Succeeded { get; }

    /// <summary>Attempts that failed and will be retried.</summary>
    public Counter<long> Retried { get; }

    /// <summary>Deliveries dead-lettered.</summary>
    public Counter<long> DeadLettered { get; }

    /// <summary>Attempt durations in milliseconds.</summary>
    public Histogram<double> AttemptDuration { get; }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
