using System.Threading.Channels;
using Conductor.Sdk.Delivery;
using Microsoft.Data.Sqlite;

namespace Conductor.Sdk.Sqlite;

/// <summary>
/// A durable <see cref="IDeliveryStore"/> in one SQLite file (WAL): a delivery is on disk (its WAL file synced) when
/// <see cref="EnqueueAsync(IReadOnlyList{DeliveryRecord}, CancellationToken)"/> completes, and pending ones are attempted again after a restart. Enqueues that
/// arrive together are written in one transaction (group commit), so the cost of a durable commit is shared, and the
/// WAL file is synced on a thread of its own (<see cref="WalSync"/>) while the next group is written.
/// Leases are rows' <c>leased_until</c>: a delivery held by a process that died becomes due when its lease ends.
/// </summary>
public sealed partial class SqliteDeliveryStore : IEndpointStateStore, ITransactionalDeliveryStore, ILeasingDeliveryStore, IPruningDeliveryStore, IAsyncDisposable, IDisposable
{
    private const string Columns = "id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts, last_status_code, last_error_kind, last_error, trace_parent";
    // What reads return: the inserted columns and, from schema v6, when the delivery finished.
    private const string ReadColumns = Columns + ", finished_at";
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    // A second connection for the scans that only read (what is due past the busy endpoints, when the next is due): in
    // WAL mode it reads the last commit while the group commit writes, so a scan of a long backlog never holds up Notify.
    private readonly SemaphoreSlim _readGate = new(1, 1);
    private SqliteConnection? _reader;
    private readonly Channel<PendingWrite> _pending = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _flusher;
    private readonly WalSync _walSync;
    private string _synchronous = "FULL";

    // Deliveries this process stored and has not leased yet, by id (guarded by the gate): their first lease here returns
    // these instead of reading the rows (payload included) back, when the row's attempts and due time still match what
    // was inserted. Bounded; beyond the bound, leases read the rows as before.
    private const int FreshLimit = 4_096;
    private readonly Dictionary<string, DeliveryRecord> _fresh = new(StringComparer.Ordinal);

    // The group commit's statements, prepared once for the connection's lifetime (created on the first commit).
    private SqliteStatement? _insert, _log, _update;

    // Retention's two deletes, prepared on first use (under the gate).
    private SqliteStatement? _pruneAttempts, _pruneDeliveries;

    /// <summary>Retention's deletes riding on a group commit: up to <c>Max</c> expired rows of <c>Status</c>; <c>Deleted</c> once committed.</summary>
    internal sealed class PruneBatch(DeliveryStatus status, long before, int max)
    {
        public DeliveryStatus Status { get; } = status;
        public long Before { get; } = before;
        public int Max { get; } = max;
        public int Deleted { get; set; }
    }

    /// <summary>Opens (or creates) the store at <paramref name="path"/> and migrates its schema.</summary>
    public SqliteDeliveryStore(string path) : this(path, autoMigrate: true)
    {
    }

    /// <summary>
    /// Opens (or creates) the store at <paramref name="path"/>. With <paramref name="autoMigrate"/> its schema is brought
    /// to this version's; without, opening fails while the schema is behind, naming the command that migrates it.
    /// </summary>
    public SqliteDeliveryStore(string path, bool autoMigrate)
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
            throw new DeliveryStoreUnavailableException("SQLite " + Path,
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
            Open(autoMigrate);
        }
        catch (Exception ex)
        {
            _connection.Dispose();
            throw ex is SqliteException sqlite ? Fault(sqlite, "open the store") : ex;
        }

        _walSync = new WalSync(Path + "-wal", ex => new DeliveryStoreUnavailableException("SQLite " + Path,
            $"The SQLite delivery store {Path} could not sync its WAL file to disk ({ex.Message}): the deliveries of this call are written but " +
            "might not survive a power cut (they are sent if they do). Check the volume (free space, dmesg, mount state).", ex));
        _flusher = Task.Run(FlushLoopAsync);
    }

    /// <summary>Runs on the WAL sync thread before each sync of the WAL file (tests hold it there, or make it fail).</summary>
    internal Action? BeforeWalSync
    {
        set => _walSync.BeforeSync = value;
    }

    /// <summary>How long a call waits for a write lock held by another connection or process before it fails.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(5);

    private void Open(bool autoMigrate)
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
        // Free pages left by pruning are reused by new rows, so the file stops growing; the WAL file is cut back to this
        // size after a checkpoint, so that a burst does not leave it large (docs/operations.md).
        Execute("PRAGMA journal_size_limit=67108864;");
        if (autoMigrate)
        {
            Migrate();
            return;
        }

        var version = EffectiveVersion(null);
        if (version > Migrations.Length) throw Newer(version);
        if (version < Migrations.Length)
        {
            throw new InvalidOperationException(
                $"The SQLite delivery store {Path} is at schema version {version}, and this version of Conductor.Sdk needs {Migrations.Length}; " +
                $"Conductor:AutoMigrate is false, so it is not migrated at start-up. Run 'conductor store migrate --store \"{Path}\"' " +
                "(and 'conductor store status' to see what it does), then start again.");
        }
    }

    private InvalidOperationException Newer(long version) => new(
        $"The SQLite delivery store {Path} is at schema version {version}, newer than this version of Conductor.Sdk understands ({Migrations.Length}); " +
        "upgrade the Conductor.Sdk package (the file is left as it is).");

    /// <summary>The schema version, counting a store from before versions were kept (its tables, no version) as 1.</summary>
    private long EffectiveVersion(SqliteTransaction? transaction)
    {
        var version = SchemaVersion(transaction);
        return version == 0 && TableExists(transaction, "deliveries") ? 1 : version;
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
        // 3: the W3C traceparent of the Notify call, so that attempts continue its trace.
        "ALTER TABLE deliveries ADD COLUMN trace_parent TEXT NULL;",
        // 4: the dashboard filters by ensemble, newest first.
        "CREATE INDEX IF NOT EXISTS deliveries_ensemble_created ON deliveries (ensemble, created_at);",
        // 5: what is due is found without walking past other rows (issue #18). Only unleased waiting rows are in
        // deliveries_waiting (by endpoint, so that a busy endpoint's backlog is skipped in one seek) and
        // deliveries_waiting_due (by due time); only leased ones are in deliveries_leased. A delivery handed to the
        // worker as it is stored enters only the small leased index, and leaves it when its outcome is written.
        """
            DROP INDEX IF EXISTS deliveries_due;
            CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (endpoint, due_at, id) WHERE status = 0 AND leased_until IS NULL;
            CREATE INDEX IF NOT EXISTS deliveries_waiting_due ON deliveries (due_at, id) WHERE status = 0 AND leased_until IS NULL;
            CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (leased_until) WHERE status = 0 AND leased_until IS NOT NULL;
            """,
        // 6: retention (issue #34). When a delivery reached its final state; finished rows by status and that time, so
        // that pruning finds the expired ones without reading the rest. Rows finished before this version get the end of
        // their last attempt (or their last due time).
        """
            ALTER TABLE deliveries ADD COLUMN finished_at INTEGER NULL;
            UPDATE deliveries SET finished_at = coalesce(
                (SELECT max(a.started_at + a.duration_ticks) FROM attempts a WHERE a.delivery_id = deliveries.id), due_at)
            WHERE status <> 0;
            CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (status, finished_at) WHERE status <> 0;
            """,
        // 7: endpoint lifecycle (issue #35): one row per endpoint that failed or was disabled, shared by every process.
        """
            CREATE TABLE IF NOT EXISTS endpoints (
                endpoint TEXT PRIMARY KEY,
                failing_since INTEGER NULL,
                failed_attempts INTEGER NOT NULL DEFAULT 0,
                failed_deliveries INTEGER NOT NULL DEFAULT 0,
                last_error TEXT NULL,
                last_failure_at INTEGER NULL,
                disabled_at INTEGER NULL,
                disabled_reason TEXT NULL,
                updated_at INTEGER NOT NULL);
            """,
    };

    /// <summary>What each step of <see cref="Migrations"/> does, for <c>conductor store status</c>.</summary>
    internal static readonly string[] MigrationNotes =
    {
        "create the deliveries and attempts tables",
        "index deliveries by status and creation time (dashboard, CLI)",
        "add the trace_parent column (trace propagation)",
        "index deliveries by ensemble and creation time (dashboard)",
        "replace the due index with the partial waiting and leased indexes",
        "add finished_at (retention), fill it for finished rows, index finished rows by status and finished_at",
        "create the endpoints table (endpoint lifecycle: failing, disabled)",
    };

    /// <summary>Brings the schema to the newest version, in one write transaction (several processes may open the file at once).</summary>
    private (long From, long To) Migrate()
    {
        if (SchemaVersion(null) == Migrations.Length) return (Migrations.Length, Migrations.Length);
        using var transaction = _connection.BeginTransaction(deferred: false);
        var version = EffectiveVersion(transaction);
        if (version > Migrations.Length) throw Newer(version);
        var from = version;
        // All steps in one transaction: a failure leaves the file as it was.
        for (var step = version; step < Migrations.Length; step++) Execute(transaction, Migrations[step]);
        Execute(transaction, "CREATE TABLE IF NOT EXISTS conductor_schema (version INTEGER NOT NULL); DELETE FROM conductor_schema;");
        Execute(transaction, $"INSERT INTO conductor_schema VALUES ({Migrations.Length});");
        transaction.Commit();
        return (from, Migrations.Length);
    }

    /// <summary>
    /// The schema of the store at <paramref name="path"/>, read without changing the file: its version, this package's,
    /// and what a migration would do. The file must exist.
    /// </summary>
    public static DeliveryStoreSchema ReadSchema(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"No SQLite delivery store at {full}.", full);
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conductor_schema')
                        THEN (SELECT coalesce(max(version), 0) FROM conductor_schema) ELSE 0 END,
                   EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries')
            """;
        long version;
        using (var reader = command.ExecuteReader())
        {
            reader.Read();
            version = reader.GetInt64(0);
            if (version == 0 && reader.GetInt64(1) == 1) version = 1;
        }

        return DeliveryStoreSchema.Of("SQLite " + full, (int)version, MigrationNotes);
    }

    /// <summary>
    /// Brings the store at <paramref name="path"/> to this package's schema (one transaction: on failure the file is left
    /// as it was) and returns the versions before and after. Idempotent; refuses a schema newer than this package's.
    /// </summary>
    public static DeliveryStoreMigration MigrateSchema(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var before = ReadSchema(path);
        if (before.IsNewer) throw new InvalidOperationException($"{before.Store} is at schema version {before.Version}, newer than this version of Conductor.Sdk understands ({before.Latest}); it is left as it is.");
        using var store = new SqliteDeliveryStore(path, autoMigrate: true);
        return new DeliveryStoreMigration(before.Store, before.Version, before.Latest, before.PendingSteps);
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
    private DeliveryStoreUnavailableException Fault(SqliteException ex, string doing) => Fault(ex.SqliteErrorCode, ex.Message, doing, ex);

    private DeliveryStoreUnavailableException Fault(int code, string detail, string doing, Exception? inner = null)
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
        return new DeliveryStoreUnavailableException("SQLite " + Path, $"The SQLite delivery store {Path} could not {doing}: {advice}. ({detail})", inner);
    }

    /// <summary>Runs <paramref name="work"/> on the connection under the gate, turning SQLite errors into <see cref="Fault(SqliteException, string)"/>s.</summary>
    private ValueTask<T> LockedAsync<T>(string doing, Func<T> work, CancellationToken cancellationToken) =>
        GatedAsync(_gate, doing, work, cancellationToken);

    /// <summary>Runs <paramref name="work"/> on the read connection (opened on first use), not under the write gate.</summary>
    private ValueTask<T> ReadingAsync<T>(string doing, Func<SqliteConnection, T> work, CancellationToken cancellationToken) =>
        GatedAsync(_readGate, doing, () =>
        {
            if (_reader is null)
            {
                var reader = new SqliteConnection(_connection.ConnectionString);
                reader.Open();
                _reader = reader;
            }

            return work(_reader);
        }, cancellationToken);

    private async ValueTask<T> GatedAsync<T>(SemaphoreSlim gate, string doing, Func<T> work, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
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
            gate.Release();
        }
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
            await _walSync.StopAsync().ConfigureAwait(false);
            _walSync.Dispose();
            _insert?.Dispose();
            _log?.Dispose();
            _update?.Dispose();
            _pruneAttempts?.Dispose();
            _pruneDeliveries?.Dispose();
            _reader?.Dispose();
            _connection.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
