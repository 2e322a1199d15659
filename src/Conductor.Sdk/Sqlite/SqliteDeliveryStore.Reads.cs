using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Microsoft.Data.Sqlite;

namespace Conductor.Sdk.Sqlite;

/// <summary>Leases and queries: what is due, leasing and releasing it, and the admin reads (get, list, attempts, replay, purge).</summary>
public sealed partial class SqliteDeliveryStore
{
    /// <inheritdoc />
    /// <remarks>
    /// Waiting rows are found through <c>deliveries_waiting</c> (unleased, by endpoint) or <c>deliveries_waiting_due</c>
    /// (unleased, by due time), expired leases through <c>deliveries_leased</c>, so that no query walks past the rows of
    /// a skipped endpoint or of deliveries in flight. With endpoints to skip, the candidates are found on the read
    /// connection, one endpoint at a time, and only their lease takes the write lock (checked again, for other processes).
    /// </remarks>
    public async ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        List<string>? candidates = null;
        if (skipEndpoints is { Count: > 0 })
        {
            candidates = await ReadingAsync("find due deliveries", reader => Candidates(reader, now, max, skipEndpoints), cancellationToken).ConfigureAwait(false);
            if (candidates.Count == 0) return Array.Empty<DeliveryRecord>();
        }

        return await LockedAsync<IReadOnlyList<DeliveryRecord>>("lease due deliveries", () =>
        {
            Synchronous("NORMAL");
            using var command = _connection.CreateCommand();
            string chosen;
            if (candidates is null)
            {
                chosen = OldestDueSql;
                command.Parameters.AddWithValue("$max", max);
            }
            else
            {
                var names = new List<string>(candidates.Count);
                foreach (var id in candidates)
                {
                    names.Add("$c" + names.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    command.Parameters.AddWithValue(names[^1], id);
                }

                chosen = string.Join(", ", names);
            }

            command.CommandText = LeaseSql(chosen);
            command.Parameters.AddWithValue("$until", leaseUntil.UtcTicks);
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            var result = new List<DeliveryRecord>();
            List<string>? stored = null;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    var id = reader.GetString(0);
                    // Another process sharing the file may have attempted or released it since: then read the row.
                    if (_fresh.Remove(id, out var fresh) && fresh.Attempts == reader.GetInt32(1) && fresh.DueAt.UtcTicks == reader.GetInt64(2)) result.Add(fresh);
                    else (stored ??= new List<string>()).Add(id);
                }
            }

            if (stored is not null) result.AddRange(ReadByIds(stored));
            result.Sort((a, b) => a.DueAt != b.DueAt ? a.DueAt.CompareTo(b.DueAt) : string.CompareOrdinal(a.Id, b.Id));
            return result;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        await LockedAsync("release a lease", () =>
        {
            Synchronous("NORMAL");
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE deliveries SET due_at = $due, leased_until = NULL WHERE id = $id";
            command.Parameters.AddWithValue("$due", dueAt.UtcTicks);
            command.Parameters.AddWithValue("$id", deliveryId);
            if (command.ExecuteNonQuery() != 1) throw new KeyNotFoundException($"No delivery with id '{deliveryId}' is stored in {Path}.");
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        return ReadingAsync<DateTimeOffset?>("find the next due delivery", reader =>
        {
            long? next = null;
            using (var command = reader.CreateCommand())
            {
                command.CommandText = NextLeaseEndSql;
                if (command.ExecuteScalar() is long leased) next = leased;
            }

            if (skipEndpoints is not { Count: > 0 })
            {
                using var command = reader.CreateCommand();
                command.CommandText = NextWaitingSql;
                if (command.ExecuteScalar() is long due && (next is null || due < next)) next = due;
            }
            else
            {
                foreach (var (endpoint, due) in WaitingEndpoints(reader))
                {
                    if (!skipEndpoints.Contains(endpoint) && (next is null || due < next)) next = due;
                }
            }

            return next is { } ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
        }, cancellationToken);
    }

    // The statements that find what is due. Each reads only the rows it returns (plus one seek per endpoint with waiting
    // rows): waiting rows through the partial indexes of schema v5, never by walking past a backlog or the rows in
    // flight. SqliteQueryPlanTests holds every one of them to that.

    /// <summary>Leases the rows of <paramref name="chosen"/> (a list of ids, or <see cref="OldestDueSql"/>) if still leasable, found by id.</summary>
    // "+status" and "+due_at": without them the planner walks an index of status or due time and tests "id IN (…)" on
    // every row it passes, the whole backlog.
    internal static string LeaseSql(string chosen) => $"""
        UPDATE deliveries SET leased_until = $until
        WHERE id IN ({chosen}) AND +status = 0 AND +due_at <= $now AND (leased_until IS NULL OR leased_until <= $now)
        RETURNING id, attempts, due_at
        """;

    /// <summary>The <c>$max</c> oldest due: unleased waiting rows and rows whose lease ended (a process that died), by due time.</summary>
    internal const string OldestDueSql = """
        SELECT id FROM (
            SELECT * FROM (SELECT id, due_at FROM deliveries INDEXED BY deliveries_waiting_due WHERE status = 0 AND leased_until IS NULL AND due_at <= $now ORDER BY due_at, id LIMIT $max)
            UNION ALL
            SELECT id, due_at FROM deliveries INDEXED BY deliveries_leased WHERE status = 0 AND leased_until IS NOT NULL AND leased_until <= $now)
        ORDER BY due_at, id LIMIT $max
        """;

    internal const string NextLeaseEndSql = "SELECT MIN(leased_until) FROM deliveries INDEXED BY deliveries_leased WHERE status = 0 AND leased_until IS NOT NULL";
    internal const string NextWaitingSql = "SELECT MIN(due_at) FROM deliveries INDEXED BY deliveries_waiting_due WHERE status = 0 AND leased_until IS NULL";
    internal const string EndedLeasesSql = "SELECT id, due_at, endpoint FROM deliveries INDEXED BY deliveries_leased WHERE status = 0 AND leased_until IS NOT NULL AND leased_until <= $now";

    /// <summary>One endpoint's <c>$max</c> oldest due unleased rows.</summary>
    internal const string EndpointDueSql = """
        SELECT id, due_at FROM deliveries INDEXED BY deliveries_waiting
        WHERE status = 0 AND leased_until IS NULL AND endpoint = $endpoint AND due_at <= $now
        ORDER BY due_at, id LIMIT $max
        """;

    /// <summary>Each endpoint with unleased waiting rows and its earliest due time: a skip-scan, two seeks per endpoint.</summary>
    internal const string WaitingEndpointsSql = """
        WITH RECURSIVE e(endpoint) AS (
            SELECT (SELECT MIN(endpoint) FROM deliveries INDEXED BY deliveries_waiting WHERE status = 0 AND leased_until IS NULL)
            UNION ALL
            SELECT (SELECT MIN(endpoint) FROM deliveries INDEXED BY deliveries_waiting WHERE status = 0 AND leased_until IS NULL AND endpoint > e.endpoint)
            FROM e WHERE e.endpoint IS NOT NULL)
        SELECT endpoint, (SELECT MIN(due_at) FROM deliveries INDEXED BY deliveries_waiting WHERE status = 0 AND leased_until IS NULL AND endpoint = e.endpoint)
        FROM e WHERE endpoint IS NOT NULL
        """;

    /// <summary>Each endpoint with unleased waiting rows, with its earliest due time (<see cref="WaitingEndpointsSql"/>).</summary>
    private static List<(string Endpoint, long Due)> WaitingEndpoints(SqliteConnection reader)
    {
        using var command = reader.CreateCommand();
        command.CommandText = WaitingEndpointsSql;
        using var rows = command.ExecuteReader();
        var result = new List<(string, long)>();
        while (rows.Read()) result.Add((rows.GetString(0), rows.GetInt64(1)));
        return result;
    }

    /// <summary>
    /// Up to <paramref name="max"/> ids to lease outside <paramref name="skipEndpoints"/>, oldest due first: the due rows
    /// of each other endpoint with waiting rows, and expired leases, merged.
    /// </summary>
    private static List<string> Candidates(SqliteConnection reader, DateTimeOffset now, int max, IReadOnlyCollection<string> skipEndpoints)
    {
        var found = new List<(long Due, string Id)>();
        using (var command = reader.CreateCommand())
        {
            command.CommandText = EndedLeasesSql;
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            using var rows = command.ExecuteReader();
            while (rows.Read())
            {
                if (!skipEndpoints.Contains(rows.GetString(2))) found.Add((rows.GetInt64(1), rows.GetString(0)));
            }
        }

        using (var command = reader.CreateCommand())
        {
            command.CommandText = EndpointDueSql;
            var endpointParameter = command.Parameters.Add("$endpoint", SqliteType.Text);
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            command.Parameters.AddWithValue("$max", max);
            foreach (var (endpoint, due) in WaitingEndpoints(reader))
            {
                if (due > now.UtcTicks || skipEndpoints.Contains(endpoint)) continue;
                endpointParameter.Value = endpoint;
                using var rows = command.ExecuteReader();
                while (rows.Read()) found.Add((rows.GetInt64(1), rows.GetString(0)));
            }
        }

        found.Sort((a, b) => a.Due != b.Due ? a.Due.CompareTo(b.Due) : string.CompareOrdinal(a.Id, b.Id));
        var ids = new List<string>(Math.Min(max, found.Count));
        for (var i = 0; i < found.Count && i < max; i++) ids.Add(found[i].Id);
        return ids;
    }

    /// <inheritdoc />
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        return LockedAsync<DeliveryRecord?>("read a delivery", () =>
        {
            using var command = _connection.CreateCommand();
            command.CommandText = $"SELECT {ReadColumns} FROM deliveries WHERE id = $id";
            command.Parameters.AddWithValue("$id", deliveryId);
            return ReadRecords(command).SingleOrDefault();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        return LockedAsync<IReadOnlyList<DeliveryRecord>>("list deliveries", () =>
        {
            using var command = _connection.CreateCommand();
            var where = query.SqlWhere(value => command.Parameters.AddWithValue("$p" + command.Parameters.Count, value).ParameterName);
            command.CommandText = $"SELECT {ReadColumns} FROM deliveries {where} ORDER BY created_at DESC, id DESC LIMIT $limit";
            command.Parameters.AddWithValue("$limit", query.Limit);
            return ReadRecords(command);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        return LockedAsync<IReadOnlyList<AttemptLog>>("read attempts", () =>
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
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        return LockedAsync<bool>("replay a delivery", () =>
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE deliveries SET status = 0, due_at = $now, max_attempts = attempts + max_attempts, leased_until = NULL, finished_at = NULL WHERE id = $id AND status = 2";
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            command.Parameters.AddWithValue("$id", deliveryId);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default) =>
        PurgeAsync(createdBefore, null, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, DeliveryStatus? status, CancellationToken cancellationToken = default)
    {
        PurgeStatus.Check(status);
        var finished = status is null ? "status <> 0" : "status = " + ((int)status.Value).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return LockedAsync<int>("purge deliveries", () =>
        {
            using var transaction = _connection.BeginTransaction();
            using var attempts = _connection.CreateCommand();
            attempts.Transaction = transaction;
            attempts.CommandText = $"DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {finished} AND created_at < $before)";
            attempts.Parameters.AddWithValue("$before", createdBefore.UtcTicks);
            attempts.ExecuteNonQuery();
            using var deliveries = _connection.CreateCommand();
            deliveries.Transaction = transaction;
            deliveries.CommandText = $"DELETE FROM deliveries WHERE {finished} AND created_at < $before";
            deliveries.Parameters.AddWithValue("$before", createdBefore.UtcTicks);
            var deleted = deliveries.ExecuteNonQuery();
            transaction.Commit();
            return deleted;
        }, cancellationToken);
    }

    /// <summary>The rows of <paramref name="ids"/> (leased by this call, not remembered from an enqueue).</summary>
    private List<DeliveryRecord> ReadByIds(List<string> ids)
    {
        var result = new List<DeliveryRecord>(ids.Count);
        for (var start = 0; start < ids.Count; start += 500)
        {
            using var command = _connection.CreateCommand();
            var names = new List<string>();
            for (var i = start; i < Math.Min(ids.Count, start + 500); i++)
            {
                names.Add("$i" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                command.Parameters.AddWithValue(names[^1], ids[i]);
            }

            command.CommandText = $"SELECT {ReadColumns} FROM deliveries WHERE id IN ({string.Join(", ", names)})";
            result.AddRange(ReadRecords(command));
        }

        return result;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AttemptSample>> RecentAttemptsAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken = default)
    {
        return LockedAsync<IReadOnlyList<AttemptSample>>("read recent attempts", () =>
        {
            using var command = _connection.CreateCommand();
            command.CommandText = """
                SELECT d.endpoint, a.started_at, a.duration_ticks, a.outcome, a.status_code
                FROM (SELECT delivery_id, started_at, duration_ticks, outcome, status_code FROM attempts ORDER BY rowid DESC LIMIT $limit) a
                JOIN deliveries d ON d.id = a.delivery_id
                WHERE a.started_at >= $since
                """;
            command.Parameters.AddWithValue("$since", since.UtcTicks);
            command.Parameters.AddWithValue("$limit", limit);
            using var reader = command.ExecuteReader();
            var result = new List<AttemptSample>();
            while (reader.Read())
            {
                result.Add(new AttemptSample(reader.GetString(0), new DateTimeOffset(reader.GetInt64(1), TimeSpan.Zero), TimeSpan.FromTicks(reader.GetInt64(2)),
                    (AttemptOutcome)reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetInt32(4)));
            }

            return result;
        }, cancellationToken);
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
                reader.IsDBNull(14) ? null : reader.GetString(14))
            {
                TraceParent = reader.IsDBNull(15) ? null : reader.GetString(15),
                FinishedAt = reader.IsDBNull(16) ? null : new DateTimeOffset(reader.GetInt64(16), TimeSpan.Zero),
            });
        }

        return result;
    }

    // The ?3 oldest expired rows of one finished status (?1) finished before ?2, through deliveries_finished (schema v6):
    // their attempts, then the rows. Both statements run in one transaction, so they pick the same rows (the index's order,
    // its rowid breaking ties). "status <> 0" lets SQLite use the partial index for a bound status.
    private const string Expired = "FROM deliveries INDEXED BY deliveries_finished WHERE status <> 0 AND status = ?1 AND finished_at < ?2 ORDER BY finished_at LIMIT ?3";
    internal const string PruneAttemptsSql = $"DELETE FROM attempts WHERE delivery_id IN (SELECT id {Expired})";
    internal const string PruneDeliveriesSql = $"DELETE FROM deliveries WHERE rowid IN (SELECT rowid {Expired})";

    /// <inheritdoc />
    /// <remarks>
    /// The deletes ride on the group commit: the batch joins the next transaction of Notify's writes (one commit for
    /// both, so pruning adds a few microseconds of work per row to a group instead of a transaction of its own that the
    /// next group would wait for), or, when nothing else is being written, a transaction of its own. It is written with
    /// synchronous=NORMAL and needs no WAL sync: a prune lost in a power cut is simply done again.
    /// </remarks>
    public async ValueTask<int> PruneAsync(DeliveryStatus status, DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken = default)
    {
        PurgeStatus.Check(status);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var batch = new PruneBatch(status, finishedBefore.UtcTicks, max);
        await Submit(RentWrite().Set(null, null, default, null, batch), cancellationToken).ConfigureAwait(false);
        return batch.Deleted;
    }

    /// <summary>Runs retention's two deletes in the group's transaction (under the gate); returns the rows deleted.</summary>
    private int Prune(PruneBatch batch)
    {
        _pruneAttempts ??= new SqliteStatement(_connection, PruneAttemptsSql);
        _pruneDeliveries ??= new SqliteStatement(_connection, PruneDeliveriesSql);
        foreach (var statement in new[] { _pruneAttempts, _pruneDeliveries })
        {
            statement.Int(1, (int)batch.Status);
            statement.Int(2, batch.Before);
            statement.Int(3, batch.Max);
        }

        _pruneAttempts.Run();
        return _pruneDeliveries.Run();
    }

    /// <inheritdoc />
    /// <remarks>The database file and its WAL file (the shared-memory index is not data).</remarks>
    public ValueTask<long> SizeAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(FileBytes());

    private long FileBytes()
    {
        long bytes = 0;
        foreach (var file in new[] { Path, Path + "-wal" })
        {
            var info = new FileInfo(file);
            if (info.Exists) bytes += info.Length;
        }

        return bytes;
    }

    /// <inheritdoc />
    /// <remarks>Counted on the read connection (an index scan of <c>deliveries_status_created</c>), off the writer's lock.</remarks>
    public ValueTask<DeliveryStoreUsage> UsageAsync(CancellationToken cancellationToken = default)
    {
        return ReadingAsync("count deliveries", reader =>
        {
            using var command = reader.CreateCommand();
            command.CommandText = "SELECT status, count(*) FROM deliveries GROUP BY status";
            long pending = 0, delivered = 0, dead = 0;
            using (var rows = command.ExecuteReader())
            {
                while (rows.Read())
                {
                    switch ((DeliveryStatus)rows.GetInt32(0))
                    {
                        case DeliveryStatus.Pending: pending = rows.GetInt64(1); break;
                        case DeliveryStatus.Delivered: delivered = rows.GetInt64(1); break;
                        default: dead += rows.GetInt64(1); break;
                    }
                }
            }

            return new DeliveryStoreUsage(pending, delivered, dead, FileBytes());
        }, cancellationToken);
    }
}

