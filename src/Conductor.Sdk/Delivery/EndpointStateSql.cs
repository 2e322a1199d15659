using System.Data.Common;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// The endpoint-state statements of the SQL stores, written once for SQLite and PostgreSQL (both read <c>@name</c>
/// parameters, <c>ON CONFLICT … DO UPDATE</c> and <c>RETURNING</c>) and run through ADO.NET's base classes. Compiled into
/// the runtime and, as source, into the PostgreSQL package.
/// </summary>
internal sealed class EndpointStateSql(string table, string deliveries)
{
    private const string Columns = "endpoint, failing_since, failed_attempts, failed_deliveries, last_error, last_failure_at, disabled_at, disabled_reason, updated_at";

    private readonly string _select = $"SELECT {Columns} FROM {table} ORDER BY endpoint";

    // A healthy endpoint starts failing at @at; a failing or disabled one adds to its counts. The counts equal this
    // write's exactly when it started the failing (a success or an enable clears them).
    private readonly string _failures = $"""
        INSERT INTO {table} (endpoint, failing_since, failed_attempts, failed_deliveries, last_error, last_failure_at, updated_at)
        VALUES (@endpoint, @at, @attempts, @deliveries, @error, @at, @at)
        ON CONFLICT (endpoint) DO UPDATE SET
            failing_since = coalesce({table}.failing_since, excluded.failing_since),
            failed_attempts = {table}.failed_attempts + excluded.failed_attempts,
            failed_deliveries = {table}.failed_deliveries + excluded.failed_deliveries,
            last_error = coalesce(excluded.last_error, {table}.last_error),
            last_failure_at = excluded.last_failure_at,
            updated_at = excluded.updated_at
        RETURNING {Columns}
        """;

    private readonly string _success = $"UPDATE {table} SET failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, updated_at = @at WHERE endpoint = @endpoint AND failing_since IS NOT NULL AND disabled_at IS NULL";

    private readonly string _disable = $"""
        INSERT INTO {table} (endpoint, disabled_at, disabled_reason, updated_at) VALUES (@endpoint, @at, @reason, @at)
        ON CONFLICT (endpoint) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason, updated_at = excluded.updated_at
        WHERE {table}.disabled_at IS NULL
        """;

    private readonly string _enable = $"UPDATE {table} SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, updated_at = @at WHERE endpoint = @endpoint AND disabled_at IS NOT NULL";

    // Through the partial index of unleased waiting rows by endpoint and due time (covering).
    private readonly string _backlog = $"SELECT endpoint, count(*), min(due_at) FROM {deliveries} WHERE status = 0 AND leased_until IS NULL AND due_at <= @now GROUP BY endpoint";

    public async Task<IReadOnlyList<EndpointState>> ListAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, _select);
        return await ReadStatesAsync(command, cancellationToken).ConfigureAwait(false);
    }

    public async Task<(EndpointState State, bool Started)> FailuresAsync(DbConnection connection, string endpoint, DateTimeOffset at, long attempts, long deliveries, string? error, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, _failures, ("endpoint", endpoint), ("at", at.UtcTicks), ("attempts", attempts), ("deliveries", deliveries), ("error", error));
        var state = (await ReadStatesAsync(command, cancellationToken).ConfigureAwait(false))[0];
        return (state, state.FailedAttempts == attempts);
    }

    public Task<bool> SuccessAsync(DbConnection connection, string endpoint, DateTimeOffset at, CancellationToken cancellationToken) =>
        ChangesAsync(connection, _success, cancellationToken, ("endpoint", endpoint), ("at", at.UtcTicks));

    public Task<bool> DisableAsync(DbConnection connection, string endpoint, DateTimeOffset at, string reason, CancellationToken cancellationToken) =>
        ChangesAsync(connection, _disable, cancellationToken, ("endpoint", endpoint), ("at", at.UtcTicks), ("reason", reason));

    public Task<bool> EnableAsync(DbConnection connection, string endpoint, DateTimeOffset at, CancellationToken cancellationToken) =>
        ChangesAsync(connection, _enable, cancellationToken, ("endpoint", endpoint), ("at", at.UtcTicks));

    public async Task<IReadOnlyList<EndpointBacklog>> BacklogAsync(DbConnection connection, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, _backlog, ("now", now.UtcTicks));
        var result = new List<EndpointBacklog>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new EndpointBacklog(reader.GetString(0), reader.GetInt64(1), new DateTimeOffset(reader.GetInt64(2), TimeSpan.Zero)));
        }

        return result;
    }

    private static async Task<bool> ChangesAsync(DbConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    private static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            if (value is null) parameter.DbType = System.Data.DbType.String;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private static DateTimeOffset? Time(long? ticks) => ticks is { } t ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    private static async Task<IReadOnlyList<EndpointState>> ReadStatesAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var result = new List<EndpointState>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            long? Long(int i) => reader.IsDBNull(i) ? null : reader.GetInt64(i);
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            var failingSince = Long(1);
            var disabledAt = Long(6);
            result.Add(new EndpointState(reader.GetString(0),
                disabledAt is not null ? EndpointHealth.Disabled : failingSince is not null ? EndpointHealth.Failing : EndpointHealth.Healthy,
                Time(failingSince), reader.GetInt64(2), reader.GetInt64(3), Text(4), Time(Long(5)), Time(disabledAt), Text(7), Time(reader.GetInt64(8))!.Value));
        }

        return result;
    }
}
