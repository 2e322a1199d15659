using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.PostgreSql;

/// <summary>The endpoint states (schema v7's <c>conductor_endpoints</c> table), shared by every process using the database.</summary>
public sealed partial class PostgreSqlDeliveryStore
{
    private static readonly EndpointStateSql EndpointSql = new("conductor_endpoints", "conductor_deliveries");

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<EndpointState>> EndpointsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EndpointSql.ListAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(EndpointState State, bool Started)> RecordEndpointFailuresAsync(string endpoint, DateTimeOffset at, long attempts, long deliveries, string? error, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EndpointSql.FailuresAsync(connection, endpoint, at, attempts, deliveries, error, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<bool> RecordEndpointSuccessAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EndpointSql.SuccessAsync(connection, endpoint, at, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<bool> DisableEndpointAsync(string endpoint, DateTimeOffset at, string reason, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EndpointSql.DisableAsync(connection, endpoint, at, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<bool> EnableEndpointAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EndpointSql.EnableAsync(connection, endpoint, at, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<EndpointBacklog>> EndpointBacklogAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EndpointSql.BacklogAsync(connection, now, cancellationToken).ConfigureAwait(false);
    }
}
