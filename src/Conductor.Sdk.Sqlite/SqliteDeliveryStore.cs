using System.Threading.Channels;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Microsoft.Data.Sqlite;

namespace Conductor.Sdk.Sqlite;

/// <summary>
/// A durable <see cref="IDeliveryStore"/> in one SQLite file (WAL, <c>synchronous=FULL</c>): a delivery is on disk
/// when <see cref="EnqueueAsync"/> completes, and pending ones are attempted again after a restart. Enqueues that
/// arrive together are written in one transaction (group commit), so the cost of a durable commit is shared.
/// Leases are rows' <c>leased_until</c>: a delivery held by a process that died becomes due when its lease ends.
/// </summary>
public sealed class SqliteDeliveryStore : IDeliveryStore, IAsyncDisposable, IDisposable
{
    private const string Columns = "id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts, last_status_code, last_error_kind, last_error";
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Channel<PendingBatch> _pending = Channel.CreateUnbounded<PendingBatch>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _flusher;
    private readonly CancellationTokenSource _stopping = new();

    private sealed record PendingBatch(IReadOnlyList<DeliveryRecord> Deliveries, TaskCompletionSource Done);

    /// <summary>Opens (or creates) the store at <paramref name="path"/> and migrates its schema.</summary>
    public SqliteDeliveryStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        Path = System.IO.Path.GetFullPath(path);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL;");
        Execute("PRAGMA synchronous=FULL;");
        Execute("PRAGMA busy_timeout=5000;");
        Execute("""
            CREATE TABLE IF NOT EXISTS deliveries (
                id TEXT PRIMARY KEY,
                ensemble TEXT NOT NULL,
                event TEXT NOT NULL,
                notification_key TEXT NOT NULL,
                channel TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                payload BLOB NOT NULL,
                created_at INTEGER NOT NULL,
                due_at INTEGER NOT NULL,
                status INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                max_attempts INTEGER NOT NULL,
                last_status_code INTEGER NULL,
                last_error_kind INTEGER NOT NULL DEFAULT 0,
                last_error TEXT NULL,
                leased_until INTEGER NULL);
            CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, due_at, id);
            CREATE INDEX IF NOT EXISTS deliveries_created ON deliveries (created_at);
            CREATE TABLE IF NOT EXISTS attempts (
                delivery_id TEXT NOT NULL,
                number INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                duration_ticks INTEGER NOT NULL,
                outcome INTEGER NOT NULL,
                status_code INTEGER NULL,
                error_kind INTEGER NOT NULL,
                error TEXT NULL,
                next_due_at INTEGER NULL,
                PRIMARY KEY (delivery_id, number));
            """);
        _flusher = Task.Run(FlushLoopAsync);
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0) return ValueTask.CompletedTask;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_pending.Writer.TryWrite(new PendingBatch(deliveries, done)))
        {
            throw new ObjectDisposedException(nameof(SqliteDeliveryStore), "The SQLite delivery store is closed; deliveries cannot be stored.");
        }

        return new ValueTask(done.Task.WaitAsync(cancellationToken));
    }

    /// <summary>Writes every batch waiting at the time in one transaction, then completes them all.</summary>
    private async Task FlushLoopAsync()
    {
        var reader = _pending.Reader;
        var batches = new List<PendingBatch>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batches.Clear();
            while (batches.Count < 1024 && reader.TryRead(out var batch)) batches.Add(batch);
            try
            {
                await _gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    using var transaction = _connection.BeginTransaction();
                    using var insert = _connection.CreateCommand();
                    insert.Transaction = transaction;
                    insert.CommandText = $"INSERT INTO deliveries ({Columns}, leased_until) VALUES ($id, $ensemble, $event, $key, $channel, $endpoint, $payload, $created, $due, $status, $attempts, $max, NULL, 0, NULL, NULL)";
                    var p = new[] { "$id", "$ensemble", "$event", "$key", "$channel", "$endpoint", "$payload", "$created", "$due", "$status", "$attempts", "$max" }
                        .Select(name => insert.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
                    insert.Prepare();
                    foreach (var batch in batches)
                    {
                        foreach (var d in batch.Deliveries)
                        {
                            p[0].Value = d.Id; p[1].Value = d.Ensemble; p[2].Value = d.Event; p[3].Value = d.NotificationKey;
                            p[4].Value = d.Channel; p[5].Value = d.Endpoint; p[6].Value = d.Payload.ToArray();
                            p[7].Value = d.CreatedAt.UtcTicks; p[8].Value = d.DueAt.UtcTicks; p[9].Value = (int)d.Status;
                            p[10].Value = d.Attempts; p[11].Value = d.MaxAttempts;
                            insert.ExecuteNonQuery();
                        }
                    }

                    transaction.Commit();
                }
                finally
                {
                    _gate.Release();
                }

                foreach (var batch in batches) batch.Done.TrySetResult();
            }
            catch (Exception ex)
            {
                // A failed group (a duplicate id, a full disk) fails every enqueue in it: none is reported as stored.
                foreach (var batch in batches) batch.Done.TrySetException(new InvalidOperationException($"Deliveries could not be stored in {Path}: {ex.Message}", ex));
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            var skip = SkipClause(command, skipEndpoints);
            command.CommandText = $"""
                UPDATE deliveries SET leased_until = $until
                WHERE id IN (SELECT id FROM deliveries
                             WHERE status = 0 AND due_at <= $now AND (leased_until IS NULL OR leased_until <= $now){skip}
                             ORDER BY due_at, id LIMIT $max)
                RETURNING {Columns}
                """;
            command.Parameters.AddWithValue("$until", leaseUntil.UtcTicks);
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            command.Parameters.AddWithValue("$max", max);
            var result = ReadRecords(command);
            result.Sort((a, b) => a.DueAt != b.DueAt ? a.DueAt.CompareTo(b.DueAt) : string.CompareOrdinal(a.Id, b.Id));
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var transaction = _connection.BeginTransaction();
            using (var insert = _connection.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = "INSERT OR REPLACE INTO attempts VALUES ($id, $number, $started, $duration, $outcome, $status, $kind, $error, $next)";
                insert.Parameters.AddWithValue("$id", attempt.DeliveryId);
                insert.Parameters.AddWithValue("$number", attempt.Number);
                insert.Parameters.AddWithValue("$started", attempt.StartedAt.UtcTicks);
                insert.Parameters.AddWithValue("$duration", attempt.Duration.Ticks);
                insert.Parameters.AddWithValue("$outcome", (int)attempt.Outcome);
                insert.Parameters.AddWithValue("$status", (object?)attempt.StatusCode ?? DBNull.Value);
                insert.Parameters.AddWithValue("$kind", (int)attempt.ErrorKind);
                insert.Parameters.AddWithValue("$error", (object?)attempt.Error ?? DBNull.Value);
                insert.Parameters.AddWithValue("$next", (object?)attempt.NextDueAt?.UtcTicks ?? DBNull.Value);
                insert.ExecuteNonQuery();
            }

            using (var update = _connection.CreateCommand())
            {
                update.Transaction = transaction;
                update.CommandText = """
                    UPDATE deliveries SET status = $status, attempts = attempts + 1, due_at = COALESCE($next, due_at),
                        last_status_code = $code, last_error_kind = $kind, last_error = $error, leased_until = NULL
                    WHERE id = $id
                    """;
                update.Parameters.AddWithValue("$status", (int)next);
                update.Parameters.AddWithValue("$next", (object?)attempt.NextDueAt?.UtcTicks ?? DBNull.Value);
                update.Parameters.AddWithValue("$code", (object?)attempt.StatusCode ?? DBNull.Value);
                update.Parameters.AddWithValue("$kind", (int)attempt.ErrorKind);
                update.Parameters.AddWithValue("$error", (object?)attempt.Error ?? DBNull.Value);
                update.Parameters.AddWithValue("$id", attempt.DeliveryId);
                if (update.ExecuteNonQuery() != 1) throw new KeyNotFoundException($"No delivery with id '{attempt.DeliveryId}' is stored in {Path}.");
            }

            transaction.Commit();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE deliveries SET due_at = $due, leased_until = NULL WHERE id = $id";
            command.Parameters.AddWithValue("$due", dueAt.UtcTicks);
            command.Parameters.AddWithValue("$id", deliveryId);
            if (command.ExecuteNonQuery() != 1) throw new KeyNotFoundException($"No delivery with id '{deliveryId}' is stored in {Path}.");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            var skip = SkipClause(command, skipEndpoints);
            command.CommandText = $"""
                SELECT MIN(at) FROM (
                    SELECT MIN(due_at) AS at FROM deliveries WHERE status = 0 AND leased_until IS NULL{skip}
                    UNION ALL
                    SELECT MIN(leased_until) AS at FROM deliveries WHERE status = 0 AND leased_until IS NOT NULL)
                """;
            return command.ExecuteScalar() is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = $"SELECT {Columns} FROM deliveries WHERE id = $id";
            command.Parameters.AddWithValue("$id", deliveryId);
            return ReadRecords(command).SingleOrDefault();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            var where = new List<string>();
            if (query.Ensemble is not null) { where.Add("ensemble = $ensemble"); command.Parameters.AddWithValue("$ensemble", query.Ensemble); }
            if (query.Event is not null) { where.Add("event = $event"); command.Parameters.AddWithValue("$event", query.Event); }
            if (query.Status is not null) { where.Add("status = $status"); command.Parameters.AddWithValue("$status", (int)query.Status); }
            if (query.Since is not null) { where.Add("created_at >= $since"); command.Parameters.AddWithValue("$since", query.Since.Value.UtcTicks); }
            command.CommandText = $"SELECT {Columns} FROM deliveries {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : string.Empty)} ORDER BY created_at DESC, id DESC LIMIT $limit";
            command.Parameters.AddWithValue("$limit", query.Limit);
            return ReadRecords(command);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT number, started_at, duration_ticks, outcome, status_code, error_kind, error, next_due_at FROM attempts WHERE delivery_id = $id ORDER BY number";
            command.Parameters.AddWithValue("$id", deliveryId);
            using var reader = command.ExecuteReader();
            var result = new List<AttemptLog>();
            while (reader.Read())
            {
                result.Add(new AttemptLog(
                    deliveryId,
                    reader.GetInt32(0),
                    new DateTimeOffset(reader.GetInt64(1), TimeSpan.Zero),
                    TimeSpan.FromTicks(reader.GetInt64(2)),
                    (AttemptOutcome)reader.GetInt32(3),
                    reader.IsDBNull(4) ? null : reader.GetInt32(4),
                    (AttemptErrorKind)reader.GetInt32(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6),
                    reader.IsDBNull(7) ? null : new DateTimeOffset(reader.GetInt64(7), TimeSpan.Zero)));
            }

            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE deliveries SET status = 0, due_at = $now, max_attempts = attempts + max_attempts, leased_until = NULL WHERE id = $id AND status = 2";
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            command.Parameters.AddWithValue("$id", deliveryId);
            return command.ExecuteNonQuery() == 1;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var transaction = _connection.BeginTransaction();
            using var attempts = _connection.CreateCommand();
            attempts.Transaction = transaction;
            attempts.CommandText = "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE status <> 0 AND created_at < $before)";
            attempts.Parameters.AddWithValue("$before", createdBefore.UtcTicks);
            attempts.ExecuteNonQuery();
            using var deliveries = _connection.CreateCommand();
            deliveries.Transaction = transaction;
            deliveries.CommandText = "DELETE FROM deliveries WHERE status <> 0 AND created_at < $before";
            deliveries.Parameters.AddWithValue("$before", createdBefore.UtcTicks);
            var deleted = deliveries.ExecuteNonQuery();
            transaction.Commit();
            return deleted;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string SkipClause(SqliteCommand command, IReadOnlyCollection<string>? skipEndpoints)
    {
        if (skipEndpoints is null || skipEndpoints.Count == 0) return string.Empty;
        var names = new List<string>();
        var i = 0;
        foreach (var endpoint in skipEndpoints)
        {
            var name = "$skip" + i++;
            names.Add(name);
            command.Parameters.AddWithValue(name, endpoint);
        }

        return $" AND endpoint NOT IN ({string.Join(", ", names)})";
    }

    private static List<DeliveryRecord> ReadRecords(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var result = new List<DeliveryRecord>();
        while (reader.Read())
        {
            result.Add(new DeliveryRecord(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                (byte[])reader.GetValue(6),
                new DateTimeOffset(reader.GetInt64(7), TimeSpan.Zero),
                new DateTimeOffset(reader.GetInt64(8), TimeSpan.Zero),
                (DeliveryStatus)reader.GetInt32(9),
                reader.GetInt32(10),
                reader.GetInt32(11),
                reader.IsDBNull(12) ? null : reader.GetInt32(12),
                (AttemptErrorKind)reader.GetInt32(13),
                reader.IsDBNull(14) ? null : reader.GetString(14)));
        }

        return result;
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Writes what is pending and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_pending.Writer.TryComplete())
        {
            await _flusher.ConfigureAwait(false);
            _connection.Dispose();
            _stopping.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
