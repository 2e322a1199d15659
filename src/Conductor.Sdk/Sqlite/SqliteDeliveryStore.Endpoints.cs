using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Sqlite;

/// <summary>The endpoint states (schema v7's <c>endpoints</c> table): written under the write gate, read on the read connection.</summary>
public sealed partial class SqliteDeliveryStore
{
    private static readonly EndpointStateSql EndpointSql = new("endpoints", "deliveries");

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<EndpointState>> EndpointsAsync(CancellationToken cancellationToken = default) =>
        ReadingAsync("read endpoint states", reader => EndpointSql.ListAsync(reader, cancellationToken).GetAwaiter().GetResult(), cancellationToken);

    /// <inheritdoc />
    public ValueTask<(EndpointState State, bool Started)> RecordEndpointFailuresAsync(string endpoint, DateTimeOffset at, long attempts, long deliveries, string? error, CancellationToken cancellationToken = default) =>
        LockedAsync("record endpoint failures", () => EndpointSql.FailuresAsync(_connection, endpoint, at, attempts, deliveries, error, cancellationToken).GetAwaiter().GetResult(), cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> RecordEndpointSuccessAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        LockedAsync("record an endpoint's recovery", () => EndpointSql.SuccessAsync(_connection, endpoint, at, cancellationToken).GetAwaiter().GetResult(), cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> DisableEndpointAsync(string endpoint, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        LockedAsync("disable an endpoint", () => EndpointSql.DisableAsync(_connection, endpoint, at, reason, cancellationToken).GetAwaiter().GetResult(), cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> EnableEndpointAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        LockedAsync("enable an endpoint", () => EndpointSql.EnableAsync(_connection, endpoint, at, cancellationToken).GetAwaiter().GetResult(), cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<EndpointBacklog>> EndpointBacklogAsync(DateTimeOffset now, CancellationToken cancellationToken = default) =>
        ReadingAsync("count endpoint backlogs", reader => EndpointSql.BacklogAsync(reader, now, cancellationToken).GetAwaiter().GetResult(), cancellationToken);
}
