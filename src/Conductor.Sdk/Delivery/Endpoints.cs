using System.Globalization;

namespace Conductor.Sdk.Delivery;

/// <summary>Where an endpoint stands, as every process sharing the store sees it.</summary>
public enum EndpointHealth
{
    /// <summary>Its last attempt delivered, or it never failed.</summary>
    Healthy,
    /// <summary>Every attempt since <see cref="EndpointState.FailingSince"/> failed; deliveries are still attempted.</summary>
    Failing,
    /// <summary>Not attempted until enabled again; its deliveries are kept.</summary>
    Disabled,
}

/// <summary>
/// The lifecycle state of one endpoint (the isolation key of its deliveries: <c>scheme://host:port</c> for a webhook,
/// <c>email:provider</c>, <c>sms:provider</c>, <c>push:provider</c>), kept in the store.
/// </summary>
/// <param name="Endpoint">The endpoint's key.</param>
/// <param name="Health">Healthy, failing or disabled.</param>
/// <param name="FailingSince">When the first of the failed attempts since its last delivered one ended; null while healthy.</param>
/// <param name="FailedAttempts">Attempts failed since <paramref name="FailingSince"/>.</param>
/// <param name="FailedDeliveries">Distinct deliveries among them (a delivery counts once, at its first failed attempt).</param>
/// <param name="LastError">The last failed attempt's error (never a secret or a body).</param>
/// <param name="LastFailureAt">When that attempt ended.</param>
/// <param name="DisabledAt">When it was disabled; null unless disabled.</param>
/// <param name="DisabledReason">Why: automatically after failing for DisableAfter, or an operator's reason.</param>
/// <param name="UpdatedAt">The last change.</param>
public sealed record EndpointState(
    string Endpoint,
    EndpointHealth Health,
    DateTimeOffset? FailingSince,
    long FailedAttempts,
    long FailedDeliveries,
    string? LastError,
    DateTimeOffset? LastFailureAt,
    DateTimeOffset? DisabledAt,
    string? DisabledReason,
    DateTimeOffset UpdatedAt);

/// <summary>An endpoint's due deliveries: how many, and the due time of the oldest (null when none is due).</summary>
public sealed record EndpointBacklog(string Endpoint, long Due, DateTimeOffset? OldestDue);

/// <summary>
/// The endpoint states of a store, shared by every process that uses it. Writes happen on changes (an endpoint starts
/// or stops failing, is disabled or enabled) and, while one fails, at most once per check interval per process: never
/// on the path of a delivered attempt to a healthy endpoint. The bundled SQLite, PostgreSQL and in-memory stores
/// implement it.
/// </summary>
public interface IEndpointStateStore
{
    /// <summary>Every endpoint with a recorded state (endpoints that never failed may have none: they are healthy).</summary>
    ValueTask<IReadOnlyList<EndpointState>> EndpointsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds failed attempts: a healthy endpoint becomes failing since <paramref name="at"/>; a failing or disabled one
    /// adds to its counts. Returns the state after the write and whether this write made it failing.
    /// </summary>
    ValueTask<(EndpointState State, bool Started)> RecordEndpointFailuresAsync(string endpoint, DateTimeOffset at, long attempts, long deliveries, string? error, CancellationToken cancellationToken = default);

    /// <summary>A delivered attempt: a failing endpoint is healthy again. True if this write changed it.</summary>
    ValueTask<bool> RecordEndpointSuccessAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Disables an endpoint (kept as it was if already disabled). True if this write disabled it.</summary>
    ValueTask<bool> DisableEndpointAsync(string endpoint, DateTimeOffset at, string reason, CancellationToken cancellationToken = default);

    /// <summary>Enables a disabled endpoint, healthy with its counts cleared. True if it was disabled.</summary>
    ValueTask<bool> EnableEndpointAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Pending, unleased deliveries due at <paramref name="now"/>, per endpoint, with the oldest due time.</summary>
    ValueTask<IReadOnlyList<EndpointBacklog>> EndpointBacklogAsync(DateTimeOffset now, CancellationToken cancellationToken = default);
}

/// <summary>
/// <c>Conductor:Endpoints</c>: when a failing endpoint is disabled, how often the worker reads the shared endpoint
/// states, and when an endpoint's backlog makes the health check degrade.
/// </summary>
public sealed class ConductorEndpointOptions
{
    /// <summary>
    /// An endpoint whose every attempt failed for this long (and at least <see cref="DisableAfterFailedDeliveries"/>
    /// deliveries failed, none delivered) is disabled. Default 5 days; <see cref="Timeout.InfiniteTimeSpan"/> never disables.
    /// </summary>
    public TimeSpan DisableAfter { get; set; } = TimeSpan.FromDays(5);

    /// <summary>How many distinct deliveries must have failed before an endpoint is disabled automatically (default 3).</summary>
    public int DisableAfterFailedDeliveries { get; set; } = 3;

    /// <summary>
    /// How often each process reads the shared endpoint states (an enable or disable made by another process or the CLI
    /// takes effect within this), writes its failure counts, disables endpoints that failed for <see cref="DisableAfter"/>,
    /// and counts every endpoint's backlog for the metrics and the health check. Default 15 s.
    /// </summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The health check degrades when an endpoint that is not disabled has a due delivery older than this (default 15 min).</summary>
    public TimeSpan BacklogAgeThreshold { get; set; } = TimeSpan.FromMinutes(15);

    internal IEnumerable<string> Validate()
    {
        if (DisableAfter <= TimeSpan.Zero && DisableAfter != Timeout.InfiniteTimeSpan)
            yield return $"Conductor:Endpoints:DisableAfter must be positive (it is {DisableAfter}); use -00:00:00.001 (infinite) to never disable endpoints.";
        if (DisableAfterFailedDeliveries < 1)
            yield return $"Conductor:Endpoints:DisableAfterFailedDeliveries must be at least 1 (it is {DisableAfterFailedDeliveries}).";
        if (CheckInterval < TimeSpan.FromMilliseconds(100))
            yield return $"Conductor:Endpoints:CheckInterval must be at least 100 ms (it is {CheckInterval}).";
        if (BacklogAgeThreshold <= TimeSpan.Zero)
            yield return $"Conductor:Endpoints:BacklogAgeThreshold must be positive (it is {BacklogAgeThreshold}).";
    }
}

/// <summary>
/// A rate limit of one webhook notification (YAML <c>rate-limit: 50/s</c>): at most <see cref="Permits"/> attempts per
/// <see cref="Per"/>, with bursts of up to <see cref="Permits"/>. The worker applies the smallest limit declared for an
/// endpoint to all of its deliveries, per process.
/// </summary>
public readonly record struct RateLimit(int Permits, TimeSpan Per)
{
    /// <summary>Attempts per <see cref="Per"/>: at least 1.</summary>
    public int Permits { get; init; } = Permits >= 1 ? Permits
        : throw new ArgumentOutOfRangeException(nameof(Permits), Permits, $"A rate limit allows at least 1 attempt per period (it is {Permits}); write for example new RateLimit(50, TimeSpan.FromSeconds(1)).");

    /// <summary>The period: positive.</summary>
    public TimeSpan Per { get; init; } = Per > TimeSpan.Zero ? Per
        : throw new ArgumentOutOfRangeException(nameof(Per), Per, $"A rate limit's period must be positive (it is {Per}).");

    /// <summary>The time between two attempts at the steady rate.</summary>
    public TimeSpan Interval => Per / Permits;

    /// <inheritdoc />
    public override string ToString() =>
        Permits.ToString(CultureInfo.InvariantCulture) + "/" + (Per == TimeSpan.FromSeconds(1) ? "s" : Per == TimeSpan.FromMinutes(1) ? "min" : Per == TimeSpan.FromHours(1) ? "h" : Per.ToString());
}
