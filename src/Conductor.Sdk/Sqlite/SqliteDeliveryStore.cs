using System.Threading.Channels;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Microsoft.Data.Sqlite;

namespace Conductor.Sdk.Sqlite;

/// <summary>
/// A durable <see cref="IDeliveryStore"/> in one SQLite file (WAL, <c>synchronous=FULL</c>): a delivery is on disk
/// when <see cref="EnqueueAsync(IReadOnlyList{DeliveryRecord}, CancellationToken)"/> completes, and pending ones are attempted again after a restart. Enqueues that
/// arrive together are written in one transaction (group commit), so the cost of a durable commit is shared.
/// Leases are rows' <c>leased_until</c>: a delivery held by a process that died becomes due when its lease ends.
/// </summary>
public sealed class SqliteDeliveryStore : ITransactionalDeliveryStore, IAsyncDisposable, IDisposable
{
    private const string Columns = "id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts, last_status_code, last_error_kind, last_error";
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Channel<PendingWrite> _pending = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _flusher;
    private string _synchronous = "FULL";

    // Deliveries this process stored and has not leased yet, by id (guarded by the gate): their first lease here returns
    // these instead of reading the rows (payload included) back, when the row's attempts and due time still match what
    // was inserted. Bounded; beyond the bound, leases read the rows as before.
    private const int FreshLimit = 100_000;
    private readonly Dictionary<string, DeliveryRecord> _fresh = new(StringComparer.Ordinal);

    // The group commit's statements, prepared once for the connection's lifetime (created on the first commit).
    private SqliteCommand? _insert, _log, _update;
    private SqliteParameter[] _p = [], _l = [], _u = [];

    /// <summary>A write waiting for the next group commit: new deliveries, or the outcome of an attempt.</summary>
    private sealed record PendingWrite(IReadOnlyList<DeliveryRecord>? Deliveries, AttemptLog? Attempt, DeliveryStatus Next, TaskCompletionSource Done);

    /// <summary>Opens (or creates) the store at <paramref name="path"/> and migrates its schema.</summary>
    public SqliteDeliveryStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(Path);
        try
        {
            if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"The SQLite delivery store cannot create its directory {directory} ({ex.Message}). Create it, writable by this process, or choose another file with UseSqlite(path).", ex);
        }

        // Waiting for another connection's write lock is bounded: SQLite's busy handler and Microsoft.Data.Sqlite's own
        // retry both give up after BusyTimeout, so a file held by another process fails a call instead of hanging it.
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        }.ToString());
        try
        {
            Open();
        }
        catch (Exception ex)
        {
            _connection.Dispose();
            throw ex is SqliteException sqlite ? Fault(sqlite, "open the store") : ex;
        }

        _flusher = Task.Run(FlushLoopAsync);
    }

    /// <summary>How long a call waits for a write lock held by another connection or process before it fails.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(5);

    private void Open()
    {
        _connection.Open();
        // On a read-only file or file system SQLite quietly opens the file read-only: say so now, not at the first Notify.
        if (SQLitePCL.raw.sqlite3_db_readonly(_connection.Handle, "main") == 1)
        {
            throw Fault(8, "SQLite opened the file read-only", "open the store");
        }

        // Reading the schema first tells a corrupt file or one that is not a database apart before anything is written.
        Execute("SELECT count(*) FROM sqlite_master;");
        Execute("PRAGMA journal_mode=WAL;");
        Execute("PRAGMA synchronous=FULL;");
        Execute($"PRAGMA busy_timeout={(int)BusyTimeout.TotalMilliseconds};");
        Migrate();
    }

    /// <summary>
    /// The schema, as the steps that build it: step N brings the file to version N, kept in the table
    /// <c>conductor_schema</c> (not in <c>PRAGMA user_version</c>, which belongs to the application when the store shares
    /// its database for the outbox). A file created before versions were kept (no version, the tables present) is
    /// version 1. Add a step to change the schema; never edit one that has shipped.
    /// </summary>
    internal static readonly string[] Migrations =
    {
        // 1: the first schema.
        """
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
            """,
        // 2: the dashboard and the CLI list deliveries by status, newest first (dead letters above all).
        "CREATE INDEX IF NOT EXISTS deliveries_status_created ON deliveries (status, created_at);",
    };

    /// <summary>Brings the schema to the newest version, in one write transaction (several processes may open the file at once).</summary>
    private void Migrate()
    {
        if (SchemaVersion(null) == Migrations.Length) return;
        using var transaction = _connection.BeginTransaction(deferred: false);
        var version = SchemaVersion(transaction);
        if (version > Migrations.Length)
        {
            throw new InvalidOperationException(
                $"The SQLite delivery store {Path} is at schema version {version}, newer than this version of Conductor.Sdk understands ({Migrations.Length}); " +
                "upgrade the Conductor.Sdk package (the file is left as it is).");
        }

        if (version == 0 && TableExists(transaction, "deliveries")) version = 1;
        for (var step = version; step < Migrations.Length; step++) Execute(transaction, Migrations[step]);
        Execute(transaction, "CREATE TABLE IF NOT EXISTS conductor_schema (version INTEGER NOT NULL); DELETE FROM conductor_schema;");
        Execute(transaction, $"INSERT INTO conductor_schema VALUES ({Migrations.Length});");
        transaction.Commit();
    }

    private long SchemaVersion(SqliteTransaction? transaction)
    {
        if (!TableExists(transaction, "conductor_schema")) return 0;
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT coalesce(max(version), 0) FROM conductor_schema;";
        return (long)command.ExecuteScalar()!;
    }

    private bool TableExists(SqliteTransaction? transaction, string table)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $name";
        command.Parameters.AddWithValue("$name", table);
        return (long)command.ExecuteScalar()! > 0;
    }

    private void Execute(SqliteTransaction transaction, string sql)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0) return ValueTask.CompletedTask;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Submit(new PendingWrite(deliveries, null, default, done), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The transaction must be on a <see cref="SqliteConnection"/> to this store's file. SQLite has one writer at a time:
    /// while the application's transaction is open, the worker's own writes wait for it (up to <see cref="BusyTimeout"/>).
    /// </remarks>
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, System.Data.Common.DbTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction is not SqliteTransaction { Connection: { } connection } sqlite)
        {
            throw new InvalidOperationException(
                $"The SQLite delivery store {Path} can only join a SQLite transaction (Microsoft.Data.Sqlite), not a {transaction.GetType().Name}.");
        }

        var file = string.IsNullOrEmpty(connection.DataSource) ? string.Empty : System.IO.Path.GetFullPath(connection.DataSource);
        if (!string.Equals(file, Path, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"The transaction is on the SQLite file '{file}', but the delivery store is {Path}: a transaction cannot span two files. " +
                "Point the store at the application's database with UseSqlite(path).");
        }

        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            using var insert = connection.CreateCommand();
            insert.Transaction = sqlite;
            insert.CommandText = InsertSql;
            var p = InsertParameters(insert);
            foreach (var d in deliveries)
            {
                Bind(p, d);
                insert.ExecuteNonQuery();
            }
        }
        catch (SqliteException ex)
        {
            throw Wrap(ex);
        }

        return ValueTask.CompletedTask;
    }

    private ValueTask Submit(PendingWrite write, CancellationToken cancellationToken)
    {
        if (!_pending.Writer.TryWrite(write))
        {
            throw new ObjectDisposedException(nameof(SqliteDeliveryStore), "The SQLite delivery store is closed; nothing more can be stored.");
        }

        return new ValueTask(write.Done.Task.WaitAsync(cancellationToken));
    }

    /// <summary>
    /// Writes everything waiting at the time (enqueues and attempt outcomes) in one transaction, then completes it
    /// all: one durable commit for many writes. If the group fails, each write is retried alone, so one bad write
    /// (a duplicate id) fails only its own caller.
    /// </summary>
    private async Task FlushLoopAsync()
    {
        var reader = _pending.Reader;
        var writes = new List<PendingWrite>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            writes.Clear();
            while (writes.Count < 2048 && reader.TryRead(out var write)) writes.Add(write);
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                try
                {
                    Commit(writes);
                    foreach (var write in writes) Remember(write);
                    foreach (var write in writes) write.Done.TrySetResult();
                }
                catch (Exception ex) when (writes.Count > 1 && OneWriteMayBeAtFault(ex))
                {
                    foreach (var write in writes)
                    {
                        try
                        {
                            Commit(new[] { write });
                            Remember(write);
                            write.Done.TrySetResult();
                        }
                        catch (Exception single)
                        {
                            write.Done.TrySetException(Wrap(single));
                        }
                    }
                }
                catch (Exception ex)
                {
                    foreach (var write in writes) write.Done.TrySetException(Wrap(ex));
                }
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>
    /// Whether a failed group may have failed because of one of its writes (an unknown or duplicate id), so that writing
    /// them one by one isolates it. A full disk, a lock held elsewhere or a corrupt file fails them all alike; retrying
    /// each would only multiply the wait.
    /// </summary>
    private static bool OneWriteMayBeAtFault(Exception ex) =>
        ex is KeyNotFoundException || (ex is SqliteException sqlite && sqlite.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */);

    private Exception Wrap(Exception ex) => ex switch
    {
        KeyNotFoundException => ex,
        SqliteException { SqliteErrorCode: 19 } => new InvalidOperationException($"Deliveries could not be stored in {Path}: a delivery with the same id is already stored ({ex.Message})", ex),
        SqliteException sqlite => Fault(sqlite, "store deliveries"),
        _ => new InvalidOperationException($"Deliveries could not be stored in {Path}: {ex.Message}", ex),
    };

    /// <summary>
    /// An error that names the file, what went wrong in terms of the file system, and what to do about it. The SQLite
    /// message and code follow for the record.
    /// </summary>
    private InvalidOperationException Fault(SqliteException ex, string doing) => Fault(ex.SqliteErrorCode, ex.Message, doing, ex);

    private InvalidOperationException Fault(int code, string detail, string doing, Exception? inner = null)
    {
        var advice = code switch
        {
            5 or 6 => $"the file is locked by another process or connection, which has held a write transaction for longer than {BusyTimeout.TotalSeconds:0} s. " +
                "End that transaction (an open sqlite3 shell, a backup tool or another application using the same file); the store carries on once it is released",
            8 => "the file, its -wal or -shm file, its directory or the file system is read-only. The store needs write access to all of them",
            10 => "the disk or file system reported an I/O error. Check the volume (dmesg, free space, mount state)",
            11 or 26 => "the file is corrupt or is not a SQLite database. The store leaves it untouched: move it aside (keep it to inspect, or recover " +
                "with sqlite3's .recover) and start again to create a new store, or choose another file with UseSqlite(path)",
            13 => "the disk is full (or the file system's quota is reached). Free space on that volume; deliveries already accepted are kept, " +
                "and are sent once the store can write again",
            14 => "the file cannot be opened. Check that its directory exists and that this process may create and write files there",
            _ => "SQLite refused the operation",
        };
        return new InvalidOperationException($"The SQLite delivery store {Path} could not {doing}: {advice}. ({detail})", inner);
    }

    /// <summary>Runs <paramref name="work"/> on the connection under the gate, turning SQLite errors into <see cref="Fault(SqliteException, string)"/>s.</summary>
    private async ValueTask<T> LockedAsync<T>(string doing, Func<T> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return work();
        }
        catch (SqliteException ex)
        {
            throw Fault(ex, doing);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Commit(IReadOnlyList<PendingWrite> writes)
    {
        // New deliveries are synced to disk before EnqueueAsync returns (synchronous=FULL). Attempt outcomes use
        // NORMAL, which survives a process crash but not a power cut: losing one can only make a delivery be sent
        // again (at-least-once), never lost, and it keeps fsyncs off the delivery path.
        Synchronous(writes.Any(w => w.Deliveries is not null) ? "FULL" : "NORMAL");

        PrepareCommands();
        using var transaction = _connection.BeginTransaction();
        _insert!.Transaction = transaction;
        _log!.Transaction = transaction;
        _update!.Transaction = transaction;
        var (insert, log, update, p, l, u) = (_insert, _log, _update, _p, _l, _u);

        foreach (var write in writes)
        {
            if (write.Deliveries is { } deliveries)
            {
                foreach (var d in deliveries)
                {
                    Bind(p, d);
                    insert.ExecuteNonQuery();
                }
            }
            else if (write.Attempt is { } a)
            {
                l[0].Value = a.DeliveryId; l[1].Value = a.Number; l[2].Value = a.StartedAt.UtcTicks; l[3].Value = a.Duration.Ticks;
                l[4].Value = (int)a.Outcome; l[5].Value = (object?)a.StatusCode ?? DBNull.Value; l[6].Value = (int)a.ErrorKind;
                l[7].Value = (object?)a.Error ?? DBNull.Value; l[8].Value = (object?)a.NextDueAt?.UtcTicks ?? DBNull.Value;
                log.ExecuteNonQuery();
                u[0].Value = (int)write.Next; u[1].Value = (object?)a.NextDueAt?.UtcTicks ?? DBNull.Value; u[2].Value = (object?)a.StatusCode ?? DBNull.Value;
                u[3].Value = (int)a.ErrorKind; u[4].Value = (object?)a.Error ?? DBNull.Value; u[5].Value = a.DeliveryId;
                if (update.ExecuteNonQuery() != 1) throw new KeyNotFoundException($"No delivery with id '{a.DeliveryId}' is stored in {Path}.");
            }
        }

        transaction.Commit();
    }

    private void PrepareCommands()
    {
        if (_insert is not null) return;
        _insert = _connection.CreateCommand();
        _insert.CommandText = InsertSql;
        _p = InsertParameters(_insert);
        _log = _connection.CreateCommand();
        _log.CommandText = "INSERT OR REPLACE INTO attempts VALUES ($id, $number, $started, $duration, $outcome, $status, $kind, $error, $next)";
        _l = new[] { "$id", "$number", "$started", "$duration", "$outcome", "$status", "$kind", "$error", "$next" }
            .Select(name => _log.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
        _update = _connection.CreateCommand();
        _update.CommandText = """
            UPDATE deliveries SET status = $status, attempts = attempts + 1, due_at = COALESCE($next, due_at),
                last_status_code = $code, last_error_kind = $kind, last_error = $error, leased_until = NULL
            WHERE id = $id
            """;
        _u = new[] { "$status", "$next", "$code", "$kind", "$error", "$id" }
            .Select(name => _update.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
    }

    private const string InsertSql =
        $"INSERT INTO deliveries ({Columns}, leased_until) VALUES ($id, $ensemble, $event, $key, $channel, $endpoint, $payload, $created, $due, $status, $attempts, $max, NULL, 0, NULL, NULL)";

    private static SqliteParameter[] InsertParameters(SqliteCommand insert) =>
        new[] { "$id", "$ensemble", "$event", "$key", "$channel", "$endpoint", "$payload", "$created", "$due", "$status", "$attempts", "$max" }
            .Select(name => insert.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();

    private static void Bind(SqliteParameter[] p, DeliveryRecord d)
    {
        p[0].Value = d.Id; p[1].Value = d.Ensemble; p[2].Value = d.Event; p[3].Value = d.NotificationKey;
        p[4].Value = d.Channel; p[5].Value = d.Endpoint; p[6].Value = WholeArray(d.Payload);
        p[7].Value = d.CreatedAt.UtcTicks; p[8].Value = d.DueAt.UtcTicks; p[9].Value = (int)d.Status;
        p[10].Value = d.Attempts; p[11].Value = d.MaxAttempts;
    }

    /// <summary>The payload's array itself when the memory spans all of it (the usual case), else a copy.</summary>
    private static byte[] WholeArray(ReadOnlyMemory<byte> payload) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(payload, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : payload.ToArray();

    /// <summary>After a commit (under the gate): new deliveries are kept for their first lease.</summary>
    private void Remember(PendingWrite write)
    {
        if (write.Deliveries is not { } deliveries) return;
        foreach (var d in deliveries)
        {
            if (_fresh.Count >= FreshLimit) return;
            _fresh[d.Id] = d;
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        return LockedAsync<IReadOnlyList<DeliveryRecord>>("lease due deliveries", () =>
        {
            Synchronous("NORMAL");
            using var command = _connection.CreateCommand();
            var skip = SkipClause(command, skipEndpoints);
            command.CommandText = $"""
                UPDATE deliveries SET leased_until = $until
                WHERE id IN (SELECT id FROM deliveries
                             WHERE status = 0 AND due_at <= $now AND (leased_until IS NULL OR leased_until <= $now){skip}
                             ORDER BY due_at, id LIMIT $max)
                RETURNING id, attempts, due_at
                """;
            command.Parameters.AddWithValue("$until", leaseUntil.UtcTicks);
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            command.Parameters.AddWithValue("$max", max);
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
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return Submit(new PendingWrite(null, attempt, next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)), cancellationToken);
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
        return LockedAsync<DateTimeOffset?>("find the next due delivery", () =>
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
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        return LockedAsync<DeliveryRecord?>("read a delivery", () =>
        {
            using var command = _connection.CreateCommand();
            command.CommandText = $"SELECT {Columns} FROM deliveries WHERE id = $id";
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
            var where = new List<string>();
            if (query.Ensemble is not null) { where.Add("ensemble = $ensemble"); command.Parameters.AddWithValue("$ensemble", query.Ensemble); }
            if (query.Event is not null) { where.Add("event = $event"); command.Parameters.AddWithValue("$event", query.Event); }
            if (query.Status is not null) { where.Add("status = $status"); command.Parameters.AddWithValue("$status", (int)query.Status); }
            if (query.Since is not null) { where.Add("created_at >= $since"); command.Parameters.AddWithValue("$since", query.Since.Value.UtcTicks); }
            command.CommandText = $"SELECT {Columns} FROM deliveries {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : string.Empty)} ORDER BY created_at DESC, id DESC LIMIT $limit";
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
            command.CommandText = "UPDATE deliveries SET status = 0, due_at = $now, max_attempts = attempts + max_attempts, leased_until = NULL WHERE id = $id AND status = 2";
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

            command.CommandText = $"SELECT {Columns} FROM deliveries WHERE id IN ({string.Join(", ", names)})";
            result.AddRange(ReadRecords(command));
        }

        return result;
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

    /// <summary>
    /// Sets the sync level for the next transaction (called under the gate). Only new deliveries need FULL; leases,
    /// releases and outcomes can be lost in a power cut at the price of a resend, never of a delivery.
    /// </summary>
    private void Synchronous(string level)
    {
        if (level == _synchronous) return;
        Execute($"PRAGMA synchronous={level};");
        _synchronous = level;
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
            _insert?.Dispose();
            _log?.Dispose();
            _update?.Dispose();
            _connection.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
