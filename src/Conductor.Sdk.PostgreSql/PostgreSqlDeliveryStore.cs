using System.Threading.Channels;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Npgsql;

namespace Conductor.Sdk.PostgreSql;

/// <summary>
/// A <see cref="IDeliveryStore"/> in PostgreSQL, shared by several processes: leasing uses
/// <c>FOR UPDATE SKIP LOCKED</c>, so two workers never take the same delivery, and a lease that runs out (a
/// crashed process) makes the delivery due again. Enqueues of one process are grouped: each of two writers stores what
/// waits with one <c>COPY</c> on a connection it keeps while work keeps coming; outcomes likewise, one statement per group.
/// The schema is created or migrated when the store is first used.
/// </summary>
public sealed partial class PostgreSqlDeliveryStore : IEndpointStateStore, ITransactionalDeliveryStore, ILeasingDeliveryStore, IPruningDeliveryStore, IAsyncDisposable
{
    private const string Columns = "id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts, last_status_code, last_error_kind, last_error, trace_parent";
    // What reads return: the inserted columns and, from schema v6, when the delivery finished.
    private const string ReadColumns = Columns + ", finished_at";
    private readonly NpgsqlDataSource _source;
    private readonly Channel<(IReadOnlyList<DeliveryRecord> Deliveries, long? LeaseUntil, TaskCompletionSource Done)> _pending =
        Channel.CreateUnbounded<(IReadOnlyList<DeliveryRecord>, long?, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task _flusher;
    private readonly Channel<(AttemptLog Attempt, DeliveryStatus Next, TaskCompletionSource Done)> _outcomes =
        Channel.CreateUnbounded<(AttemptLog, DeliveryStatus, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _outcomeFlusher;
    private readonly object _schemaGate = new();
    // Where the store is, to check that an application's transaction is on the same database (parsed once).
    private readonly NpgsqlConnectionStringBuilder _settings;
    // The payload of this store's own announcements: its listener skips them, since this process already knows what it
    // stored (DeliveryProcessor.Stored). Waking it would tell the processor that its view of the store is no longer
    // whole, so that new deliveries would be stored unleased and leased back with a query, each announced again.
    private readonly string _announcement = Guid.NewGuid().ToString("N");
    private Task? _schema;
    private readonly bool _autoMigrate;

    /// <summary>How long opening a connection may take unless the connection string says otherwise (Npgsql's default is 15 s).</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Creates a store on <paramref name="connectionString"/>; its schema is migrated when it is first used.</summary>
    public PostgreSqlDeliveryStore(string connectionString) : this(connectionString, autoMigrate: true)
    {
    }

    /// <summary>
    /// Creates a store on <paramref name="connectionString"/>. Without <paramref name="autoMigrate"/> the schema is only
    /// checked: using the store fails while it is behind, naming the command that migrates it.
    /// </summary>
    public PostgreSqlDeliveryStore(string connectionString, bool autoMigrate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _autoMigrate = autoMigrate;
        _settings = new NpgsqlConnectionStringBuilder(connectionString);
        // A server that does not answer fails Notify within the store's timeout, not Npgsql's 15 s (unless the connection
        // string sets its own connect timeout; "Command Timeout" is another setting).
        if (!new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.ContainsKey("Timeout")) _settings.Timeout = (int)ConnectTimeout.TotalSeconds;
        _source = NpgsqlDataSource.Create(_settings.ConnectionString);
        // Two writers: while one group commits, the next is written on the other connection (PostgreSQL flushes their
        // commits together), so a Notify waits for about one group instead of the rest of the one before it as well.
        _flusher = Task.WhenAll(Task.Run(FlushLoopAsync), Task.Run(FlushLoopAsync));
        _outcomeFlusher = Task.Run(OutcomeLoopAsync);
    }

    /// <summary>
    /// One version step of the schema: <paramref name="Sql"/> runs in a short transaction (with a lock timeout, so that an
    /// <c>ALTER TABLE</c> never queues writes behind a long transaction), then each of <paramref name="After"/> runs on its
    /// own, outside any transaction: index builds (<c>CREATE INDEX CONCURRENTLY</c>, which does not lock the table for
    /// writes) and backfills. Every statement is idempotent, so an interrupted step is resumed by running it again (an
    /// index left invalid by an interrupted build is dropped and built again).
    /// </summary>
    internal sealed record Step(string Note, string Sql, params string[] After);

    /// <summary>
    /// The schema, as the steps that build it: step N brings the database to version N (table <c>conductor_schema</c>).
    /// Add a step to change the schema; never edit what one creates once it has shipped (steps 2, 4 and 5 build the same
    /// indexes as they shipped with, now concurrently).
    /// </summary>
    internal static readonly Step[] Migrations =
    {
        // 1: the first schema (a new, empty table: its indexes are built with it).
        new("create the conductor_deliveries and conductor_attempts tables", """
            CREATE TABLE IF NOT EXISTS conductor_deliveries (
                id text PRIMARY KEY,
                ensemble text NOT NULL,
                event text NOT NULL,
                notification_key text NOT NULL,
                channel text NOT NULL,
                endpoint text NOT NULL,
                payload bytea NOT NULL,
                created_at bigint NOT NULL,
                due_at bigint NOT NULL,
                status integer NOT NULL,
                attempts integer NOT NULL,
                max_attempts integer NOT NULL,
                last_status_code integer NULL,
                last_error_kind integer NOT NULL DEFAULT 0,
                last_error text NULL,
                leased_until bigint NULL);
            CREATE INDEX IF NOT EXISTS conductor_deliveries_due ON conductor_deliveries (status, due_at, id);
            CREATE INDEX IF NOT EXISTS conductor_deliveries_created ON conductor_deliveries (created_at);
            CREATE TABLE IF NOT EXISTS conductor_attempts (
                delivery_id text NOT NULL,
                number integer NOT NULL,
                started_at bigint NOT NULL,
                duration_ticks bigint NOT NULL,
                outcome integer NOT NULL,
                status_code integer NULL,
                error_kind integer NOT NULL,
                error text NULL,
                next_due_at bigint NULL,
                PRIMARY KEY (delivery_id, number));
            """),
        // 2: the dashboard and the CLI list deliveries by status, newest first (dead letters above all).
        new("index deliveries by status and creation time (dashboard, CLI), concurrently", "",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_deliveries_status_created ON conductor_deliveries (status, created_at)"),
        // 3: the W3C traceparent of the Notify call, so that attempts continue its trace.
        new("add the trace_parent column (trace propagation)", "ALTER TABLE conductor_deliveries ADD COLUMN IF NOT EXISTS trace_parent text NULL"),
        // 4: the dashboard filters by ensemble, newest first.
        new("index deliveries by ensemble and creation time (dashboard), concurrently", "",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_deliveries_ensemble_created ON conductor_deliveries (ensemble, created_at)"),
        // 5: what is due is found without walking past other rows (issue #18), as in SQLite's v5: unleased waiting rows
        // by endpoint and by due time, leased rows by lease end, each in a partial index; a delivered row is in none.
        new("replace the due index with the partial waiting and leased indexes, concurrently", "",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_deliveries_waiting ON conductor_deliveries (endpoint, due_at, id) WHERE status = 0 AND leased_until IS NULL",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_deliveries_waiting_due ON conductor_deliveries (due_at, id) WHERE status = 0 AND leased_until IS NULL",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_deliveries_leased ON conductor_deliveries (leased_until) WHERE status = 0 AND leased_until IS NOT NULL",
            "DROP INDEX CONCURRENTLY IF EXISTS conductor_deliveries_due"),
        // 6: retention (issue #34): when a delivery reached its final state, filled for rows finished before (the end of
        // their last attempt, else their last due time), and finished rows indexed by status and that time. Autovacuum
        // is told to clean up after a twentieth of the rows changed (not a fifth), since pruning deletes steadily.
        new("add finished_at (retention), fill it for finished rows, index finished rows concurrently, tune autovacuum",
            "ALTER TABLE conductor_deliveries ADD COLUMN IF NOT EXISTS finished_at bigint NULL",
            """
                UPDATE conductor_deliveries d SET finished_at = a.last
                FROM (SELECT delivery_id, max(started_at + duration_ticks) AS last FROM conductor_attempts GROUP BY delivery_id) a
                WHERE a.delivery_id = d.id AND d.status <> 0 AND d.finished_at IS NULL
                """,
            "UPDATE conductor_deliveries SET finished_at = due_at WHERE status <> 0 AND finished_at IS NULL",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_deliveries_finished ON conductor_deliveries (status, finished_at) WHERE status <> 0",
            "ALTER TABLE conductor_deliveries SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.05)",
            "ALTER TABLE conductor_attempts SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.05)"),
        // 7: endpoint lifecycle (issue #35): one row per endpoint that failed or was disabled, shared by every process.
        new("create the conductor_endpoints table (endpoint lifecycle: failing, disabled); index attempts by start time (BRIN), concurrently", """
            CREATE TABLE IF NOT EXISTS conductor_endpoints (
                endpoint text PRIMARY KEY,
                failing_since bigint NULL,
                failed_attempts bigint NOT NULL DEFAULT 0,
                failed_deliveries bigint NOT NULL DEFAULT 0,
                last_error text NULL,
                last_failure_at bigint NULL,
                disabled_at bigint NULL,
                disabled_reason text NULL,
                updated_at bigint NOT NULL)
            """,
            // The dashboard's chart reads the attempts of its window by start time; a BRIN index costs next to nothing to
            // keep up, since attempts are appended in time order.
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS conductor_attempts_started ON conductor_attempts USING brin (started_at)"),
    };

    private const long MigrationLock = 7426001;
    private const long PruneLock = 7426002;

    /// <summary>Which store this is, for messages: host, port and database (never the password).</summary>
    private string StoreName => $"PostgreSQL {_settings.Host}:{_settings.Port}/{_settings.Database ?? _settings.Username}";

    private static async Task<int> ReadVersionAsync(NpgsqlConnection connection)
    {
        await using var exists = new NpgsqlCommand("SELECT to_regclass('conductor_schema') IS NOT NULL, to_regclass('conductor_deliveries') IS NOT NULL", connection);
        bool schema, tables;
        await using (var reader = await exists.ExecuteReaderAsync().ConfigureAwait(false))
        {
            await reader.ReadAsync().ConfigureAwait(false);
            schema = reader.GetBoolean(0);
            tables = reader.GetBoolean(1);
        }

        if (!schema) return tables ? 1 : 0;
        await using var read = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM conductor_schema", connection);
        return (int)(await read.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    /// <summary>The schema, read without changing anything: the version, this package's, and what migrating would do.</summary>
    public async Task<DeliveryStoreSchema> ReadSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return DeliveryStoreSchema.Of(StoreName, await ReadVersionAsync(connection).ConfigureAwait(false), Array.ConvertAll(Migrations, m => m.Note));
    }

    /// <summary>
    /// Brings the schema to this package's, one migrator at a time across processes, and returns the versions before and
    /// after (idempotent). Index builds do not lock the table for writes; an interrupted migration is resumed by running
    /// it again. A schema newer than this package's is refused and left alone.
    /// </summary>
    public Task<DeliveryStoreMigration> MigrateSchemaAsync(CancellationToken cancellationToken = default) => MigrateAsync(apply: true, cancellationToken);

    private async Task<DeliveryStoreMigration> MigrateAsync(bool apply, CancellationToken cancellationToken = default)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var version = await ReadVersionAsync(connection).ConfigureAwait(false);
        var notes = Array.ConvertAll(Migrations, m => m.Note);
        if (version > Migrations.Length) throw Newer(version);
        if (version == Migrations.Length) return new DeliveryStoreMigration(StoreName, version, version, Array.Empty<string>());
        if (!apply)
        {
            throw new InvalidOperationException(Behind(StoreName, version, Migrations.Length));
        }

        // One migrator at a time. The lock is taken by polling: a session waiting inside pg_advisory_lock would hold a
        // snapshot, and CREATE INDEX CONCURRENTLY in the session that holds the lock waits for every such snapshot.
        while (true)
        {
            await using var take = new NpgsqlCommand($"SELECT pg_try_advisory_lock({MigrationLock})", connection);
            if ((bool)(await take.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!) break;
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var from = await ReadVersionAsync(connection).ConfigureAwait(false);
            if (from > Migrations.Length) throw Newer(from);
            for (var step = from; step < Migrations.Length; step++)
            {
                var migration = Migrations[step];
                await using (var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
                {
                    await Execute(connection, transaction, "SET LOCAL lock_timeout = '10s'; CREATE TABLE IF NOT EXISTS conductor_schema (version integer NOT NULL)").ConfigureAwait(false);
                    if (migration.Sql.Length > 0) await Execute(connection, transaction, migration.Sql).ConfigureAwait(false);
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }

                foreach (var statement in migration.After)
                {
                    if (ConcurrentIndexName(statement) is { } index) await DropIfInvalidAsync(connection, index).ConfigureAwait(false);
                    await Execute(connection, null, statement).ConfigureAwait(false);
                }

                await Execute(connection, null, $"DELETE FROM conductor_schema; INSERT INTO conductor_schema VALUES ({step + 1})").ConfigureAwait(false);
            }

            return new DeliveryStoreMigration(StoreName, from, Migrations.Length, DeliveryStoreSchema.Of(StoreName, from, notes).PendingSteps);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({MigrationLock})", connection);
            try
            {
                await unlock.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
            {
                // The connection is gone; the session's lock went with it.
            }
        }
    }

    private InvalidOperationException Newer(int version) => new(NewerThanPackage(StoreName, version, Migrations.Length));

    /// <summary>Why start-up stops when the schema is behind and <c>AutoMigrate</c> is off, and what to run.</summary>
    internal static string Behind(string store, int version, int latest) =>
        $"The Conductor tables in {store} are at schema version {version}, and this version of Conductor.Sdk.PostgreSql needs {latest}; " +
        "Conductor:AutoMigrate is false, so they are not migrated at start-up. Run 'conductor store migrate --store \"<connection string>\"' " +
        "(and 'conductor store status' to see what it does), then start again.";

    /// <summary>Why a schema newer than this package is refused.</summary>
    internal static string NewerThanPackage(string store, int version, int latest) =>
        $"The Conductor tables in {store} are at schema version {version}, newer than this version of Conductor.Sdk.PostgreSql understands ({latest}); upgrade the package (the tables are left as they are).";

    private static string? ConcurrentIndexName(string statement)
    {
        var match = System.Text.RegularExpressions.Regex.Match(statement, @"^CREATE INDEX CONCURRENTLY IF NOT EXISTS (\w+)");
        return match.Success ? match.Groups[1].Value : null;
    }

    /// <summary>Drops an index that an interrupted concurrent build left invalid, so that the build runs again.</summary>
    private static async Task DropIfInvalidAsync(NpgsqlConnection connection, string index)
    {
        await using var check = new NpgsqlCommand("SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = @name AND pg_table_is_visible(c.oid)", connection);
        check.Parameters.AddWithValue("name", index);
        if (await check.ExecuteScalarAsync().ConfigureAwait(false) is true) await Execute(connection, null, $"DROP INDEX CONCURRENTLY IF EXISTS {index}").ConfigureAwait(false);
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql)
    {
        // Index builds and backfills of a large table take longer than the default command timeout.
        await using var command = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private async ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync().ConfigureAwait(false);
        return await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    private Task EnsureSchemaAsync()
    {
        lock (_schemaGate)
        {
            // Migrate once; if it failed (the server was not up yet), the next use tries again.
            if (_schema is null || _schema.IsFaulted || _schema.IsCanceled) _schema = MigrateAsync(_autoMigrate);
            return _schema;
        }
    }

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default) =>
        Submit(deliveries, null, cancellationToken);

    /// <inheritdoc />
    public ValueTask EnqueueLeasedAsync(IReadOnlyList<DeliveryRecord> deliveries, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default) =>
        Submit(deliveries, leaseUntil.UtcTicks, cancellationToken);

    private ValueTask Submit(IReadOnlyList<DeliveryRecord> deliveries, long? leaseUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0) return ValueTask.CompletedTask;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_pending.Writer.TryWrite((deliveries, leaseUntil, done))) throw new ObjectDisposedException(nameof(PostgreSqlDeliveryStore));
        return new ValueTask(done.Task.WaitAsync(cancellationToken));
    }

    private async Task FlushLoopAsync()
    {
        var reader = _pending.Reader;
        var batches = new List<(IReadOnlyList<DeliveryRecord> Deliveries, long? LeaseUntil, TaskCompletionSource Done)>();
        var writer = new HeldConnection(this);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batches.Clear();
            while (batches.Count < 1024 && reader.TryRead(out var batch)) batches.Add(batch);
            // Both writers wake for the same arrival; the one that finds nothing left goes back to waiting.
            if (batches.Count == 0) continue;
            try
            {
                var connection = await writer.GetAsync().ConfigureAwait(false);
                await using (var copy = await BeginCopyAsync(connection, CancellationToken.None).ConfigureAwait(false))
                {
                    foreach (var (deliveries, leaseUntil, _) in batches) await CopyRowsAsync(copy, deliveries, leaseUntil, CancellationToken.None).ConfigureAwait(false);
                    await copy.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
                }

                foreach (var (_, _, done) in batches) done.TrySetResult();
                // Deliveries leased by the process that stored them concern no other worker: announced only when some are not.
                if (batches.Exists(b => b.LeaseUntil is null)) await AnnounceAsync(connection, null, _announcement).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await writer.DropAsync().ConfigureAwait(false);
                var error = Unavailable(ex);
                foreach (var (_, _, done) in batches) done.TrySetException(error);
            }

            await writer.ReleaseIfIdleAsync(reader).ConfigureAwait(false);
        }
    }

    /// <summary>The error Notify sees when PostgreSQL cannot take deliveries: which server, why, and what to do.</summary>
    private Exception Unavailable(Exception ex)
    {
        if (ex is PostgresException { SqlState: "23505" }) return new InvalidOperationException($"Deliveries could not be stored in {StoreName}: a delivery with the same id is already stored ({ex.Message}).", ex);
        // The schema check's own errors (behind with AutoMigrate off, newer than this package) say what to do already.
        if (ex is InvalidOperationException) return new DeliveryStoreUnavailableException(StoreName, $"Deliveries could not be stored in {StoreName}: {ex.Message}", ex);
        var advice = ex switch
        {
            PostgresException { SqlState: "57P01" or "57P02" or "57P03" } => "the server is shutting down or starting up. The store carries on once it accepts connections again",
            PostgresException { SqlState: "53100" } => "the server's disk is full. Free space on the database volume",
            PostgresException { SqlState: "25006" } => "the server is read-only (a standby, or default_transaction_read_only). Point the store at the primary",
            PostgresException { SqlState: var state } when state.StartsWith("28", StringComparison.Ordinal) => "the server refused the credentials. Check the connection string's user and password",
            PostgresException => "the server refused the write",
            _ => $"the server cannot be reached or did not answer within {ConnectTimeout.TotalSeconds:0} s (down, restarting, or unreachable). " +
                "The store carries on once the server is back",
        };
        return new DeliveryStoreUnavailableException(StoreName,
            $"Deliveries could not be stored in {StoreName}: {advice}; the write is one transaction, so nothing of this call was stored (unless the connection broke during its commit). Deliveries accepted earlier are kept. ({ex.Message})", ex);
    }

    /// <summary>
    /// The connection of a writer loop, kept from one group to the next while more groups wait (no pool round, no
    /// session reset between them) and given back to the pool when the loop runs out of work or a group fails.
    /// </summary>
    private sealed class HeldConnection(PostgreSqlDeliveryStore store)
    {
        private NpgsqlConnection? _connection;

        public async ValueTask<NpgsqlConnection> GetAsync() => _connection ??= await store.OpenAsync(CancellationToken.None).ConfigureAwait(false);

        public async ValueTask ReleaseIfIdleAsync<T>(ChannelReader<T> work)
        {
            if (!work.TryPeek(out _)) await DropAsync().ConfigureAwait(false);
        }

        public async ValueTask DropAsync()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>A binary <c>COPY</c> of new deliveries on <paramref name="connection"/> (in its transaction, if any).</summary>
    private static Task<NpgsqlBinaryImporter> BeginCopyAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        connection.BeginBinaryImportAsync($"COPY conductor_deliveries ({Columns}, leased_until) FROM STDIN (FORMAT BINARY)", cancellationToken);

    /// <summary>
    /// Adds the deliveries' rows to a <c>COPY</c> (<see cref="BeginCopyAsync"/>). The payload is passed as memory, not
    /// copied, and the loop allocates nothing per delivery.
    /// </summary>
    private static async Task CopyRowsAsync(NpgsqlBinaryImporter writer, IReadOnlyList<DeliveryRecord> deliveries, long? leaseUntil, CancellationToken cancellationToken)
    {
        for (var i = 0; i < deliveries.Count; i++)
        {
            var d = deliveries[i];
            await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Id, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Ensemble, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Event, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.NotificationKey, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Channel, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Endpoint, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Payload, NpgsqlTypes.NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.CreatedAt.UtcTicks, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.DueAt.UtcTicks, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync((int)d.Status, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.Attempts, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(d.MaxAttempts, cancellationToken).ConfigureAwait(false);
            await writer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(0, cancellationToken).ConfigureAwait(false);
            await writer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
            if (d.TraceParent is { } trace) await writer.WriteAsync(trace, cancellationToken).ConfigureAwait(false);
            else await writer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
            if (leaseUntil is { } until) await writer.WriteAsync(until, cancellationToken).ConfigureAwait(false);
            else await writer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The channel on which new deliveries are announced (<c>NOTIFY</c>), so that every worker wakes at once.</summary>
    public const string NotificationChannel = "conductor_deliveries";

    /// <summary>Announces new deliveries; <paramref name="payload"/> is this store's own tag, or empty for every listener.</summary>
    private static async Task AnnounceAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string payload)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_notify('{NotificationChannel}', @payload)", connection, transaction);
        command.Parameters.AddWithValue("payload", payload);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Listens for new deliveries stored by any process (including with an application's transaction, once it commits)
    /// and calls <paramref name="stored"/> for each announcement, until <paramref name="cancellationToken"/> is cancelled.
    /// What this store stored itself without a transaction is not announced to it: its process knows already.
    /// A lost connection is opened again a second later; <paramref name="stored"/> is also called after each (re)connect,
    /// for what was committed while nobody listened.
    /// </summary>
    public async Task ListenAsync(Action stored, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(time);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    if (e.Payload != _announcement) stored();
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {NotificationChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                stored();
                while (true) await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException or TimeoutException)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>The transaction must be on an <see cref="NpgsqlConnection"/> to the store's database (same host, port and database).</remarks>
    public async ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, System.Data.Common.DbTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction is not NpgsqlTransaction { Connection: { } connection })
        {
            throw new InvalidOperationException($"The PostgreSQL delivery store can only join a PostgreSQL transaction (Npgsql), not a {transaction.GetType().Name}.");
        }

        var store = _settings;
        if (!string.Equals(connection.Database, store.Database ?? store.Username, StringComparison.Ordinal)
            || !string.Equals(connection.Host, store.Host, StringComparison.OrdinalIgnoreCase) || connection.Port != store.Port)
        {
            throw new InvalidOperationException(
                $"The transaction is on database '{connection.Database}' at {connection.Host}:{connection.Port}, but the delivery store is on '{store.Database}' at {store.Host}:{store.Port}: " +
                "a transaction cannot span two databases. Point the store at the application's database with UsePostgreSql(connectionString).");
        }

        if (deliveries.Count == 0) return;
        await EnsureSchemaAsync().ConfigureAwait(false);
        try
        {
            await using (var copy = await BeginCopyAsync(connection, cancellationToken).ConfigureAwait(false))
            {
                await CopyRowsAsync(copy, deliveries, null, cancellationToken).ConfigureAwait(false);
                await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            // Delivered to listeners when the application commits, and never if it rolls back; to this store's own
            // listener too (untagged), so that this process sends the rows as soon as they are committed.
            await AnnounceAsync(connection, (NpgsqlTransaction)transaction, "").ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw new InvalidOperationException($"Deliveries could not be stored in PostgreSQL with the application's transaction: {ex.Message}", ex);
        }
    }

    // The endpoints with unleased waiting rows, one index seek each (a recursive skip-scan of conductor_deliveries_waiting).
    internal const string WaitingEndpointsCte = """
        e(endpoint) AS (
            (SELECT endpoint FROM conductor_deliveries WHERE status = 0 AND leased_until IS NULL ORDER BY endpoint LIMIT 1)
            UNION ALL
            SELECT (SELECT d.endpoint FROM conductor_deliveries d WHERE d.status = 0 AND d.leased_until IS NULL AND d.endpoint > e.endpoint ORDER BY d.endpoint LIMIT 1)
            FROM e WHERE e.endpoint IS NOT NULL)
        """;

    // The @max oldest unleased due rows, locked (rows another process is leasing are skipped).
    internal const string WaitingByDue = """
        SELECT id, due_at FROM conductor_deliveries WHERE status = 0 AND leased_until IS NULL AND due_at <= @now
        ORDER BY due_at, id LIMIT @max FOR UPDATE SKIP LOCKED
        """;

    // The @max oldest unleased due rows of each endpoint outside @skip (with WaitingEndpointsCte). The endpoint is matched
    // as a range of one value and the rows are ordered by endpoint first: only conductor_deliveries_waiting gives that
    // order. With "endpoint = …" the planner treats the endpoint as a constant, so conductor_deliveries_waiting_due (by due
    // time) gives the same order, and it chose that index, walking another endpoint's whole backlog with an endpoint
    // filter (178 ms a lease beside 100,000 rows of a dead endpoint, issue #35).
    internal const string WaitingOutsideSkipped = """
        SELECT w.id, w.due_at FROM e CROSS JOIN LATERAL (
            SELECT id, due_at FROM conductor_deliveries
            WHERE status = 0 AND leased_until IS NULL AND endpoint >= e.endpoint AND endpoint <= e.endpoint AND due_at <= @now
            ORDER BY endpoint, due_at, id LIMIT @max FOR UPDATE SKIP LOCKED) AS w
        WHERE e.endpoint IS NOT NULL AND NOT (e.endpoint = ANY(@skip))
        """;

    /// <summary>The lease: the @max oldest of the due waiting rows (outside @skip when <paramref name="skipping"/>) and the ended leases.</summary>
    // "id = ANY(ARRAY(…))": the chosen ids are looked up by key. With "id IN (…)" the planner may hash-join them against a
    // scan of the whole table, which it estimates cheaper while the table is small (PostgreSqlQueryPlanTests).
    internal static string LeaseSql(bool skipping) => $"""
        WITH {(skipping ? "RECURSIVE " + WaitingEndpointsCte + "," : "")}
        waiting AS ({(skipping ? WaitingOutsideSkipped : WaitingByDue)}),
        ended AS (SELECT id, due_at FROM conductor_deliveries
                  WHERE status = 0 AND leased_until IS NOT NULL AND leased_until <= @now AND NOT (endpoint = ANY(@skip))
                  FOR UPDATE SKIP LOCKED)
        UPDATE conductor_deliveries SET leased_until = @until
        WHERE id = ANY(ARRAY(SELECT id FROM (SELECT * FROM waiting UNION ALL SELECT * FROM ended) AS due ORDER BY due_at, id LIMIT @max))
        RETURNING {ReadColumns}
        """;

    /// <summary>The earliest of the waiting rows' due times (outside @skip when <paramref name="skipping"/>) and the leases' ends.</summary>
    internal static string NextDueSql(bool skipping) => skipping
        ? $"""
            WITH RECURSIVE {WaitingEndpointsCte}
            SELECT min(at) FROM (
                SELECT (SELECT due_at FROM conductor_deliveries WHERE status = 0 AND leased_until IS NULL AND endpoint >= e.endpoint AND endpoint <= e.endpoint
                        ORDER BY endpoint, due_at LIMIT 1) AS at
                FROM e WHERE e.endpoint IS NOT NULL AND NOT (e.endpoint = ANY(@skip))
                UNION ALL
                SELECT min(leased_until) FROM conductor_deliveries WHERE status = 0 AND leased_until IS NOT NULL) AS candidates
            """
        : """
            SELECT min(at) FROM (
                SELECT min(due_at) AS at FROM conductor_deliveries WHERE status = 0 AND leased_until IS NULL
                UNION ALL
                SELECT min(leased_until) FROM conductor_deliveries WHERE status = 0 AND leased_until IS NOT NULL) AS candidates
            """;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // Unleased rows come from the waiting indexes: by due time, or with endpoints to skip, each other endpoint's oldest
        // (a skip-scan of the endpoints, so a busy endpoint's backlog is never walked); ended leases from the leased index.
        // Each part locks what it finds (SKIP LOCKED: rows another process is leasing are passed over); the statement
        // leases the @max oldest of them.
        await using var command = new NpgsqlCommand(LeaseSql(skipEndpoints is { Count: > 0 }), connection);
        command.Parameters.AddWithValue("until", leaseUntil.UtcTicks);
        command.Parameters.AddWithValue("now", now.UtcTicks);
        command.Parameters.AddWithValue("skip", (skipEndpoints ?? Array.Empty<string>()).ToArray());
        command.Parameters.AddWithValue("max", max);
        var result = await ReadRecordsAsync(command, cancellationToken).ConfigureAwait(false);
        result.Sort((a, b) => a.DueAt != b.DueAt ? a.DueAt.CompareTo(b.DueAt) : string.CompareOrdinal(a.Id, b.Id));
        return result;
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_outcomes.Writer.TryWrite((attempt, next, done))) throw new ObjectDisposedException(nameof(PostgreSqlDeliveryStore));
        return new ValueTask(done.Task.WaitAsync(cancellationToken));
    }

    /// <summary>
    /// Writes the outcomes waiting at the time with one statement over arrays (one round trip, one commit; a single
    /// outcome takes the same path) and then completes them. An outcome whose delivery is not stored writes nothing and
    /// fails only its own caller. If the statement fails, each outcome is written alone, so that only its own caller
    /// gets the error.
    /// </summary>
    private async Task OutcomeLoopAsync()
    {
        var reader = _outcomes.Reader;
        var group = new List<(AttemptLog Attempt, DeliveryStatus Next, TaskCompletionSource Done)>();
        var writer = new HeldConnection(this);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < 1024 && reader.TryRead(out var outcome)) group.Add(outcome);
            try
            {
                var missing = await RecordManyAsync(await writer.GetAsync().ConfigureAwait(false), group).ConfigureAwait(false);
                foreach (var (attempt, _, done) in group)
                {
                    if (missing?.Contains(attempt.DeliveryId) == true) done.TrySetException(NotStored(attempt.DeliveryId));
                    else done.TrySetResult();
                }
            }
            catch (Exception) when (group.Count > 1)
            {
                await writer.DropAsync().ConfigureAwait(false);
                foreach (var item in group)
                {
                    try
                    {
                        await using var connection = await OpenAsync(CancellationToken.None).ConfigureAwait(false);
                        if (await RecordManyAsync(connection, [item]).ConfigureAwait(false) is null) item.Done.TrySetResult();
                        else item.Done.TrySetException(NotStored(item.Attempt.DeliveryId));
                    }
                    catch (Exception ex)
                    {
                        item.Done.TrySetException(ex);
                    }
                }
            }
            catch (Exception ex)
            {
                await writer.DropAsync().ConfigureAwait(false);
                foreach (var (_, _, done) in group) done.TrySetException(ex);
            }

            await writer.ReleaseIfIdleAsync(reader).ConfigureAwait(false);
        }
    }

    private static KeyNotFoundException NotStored(string deliveryId) => new($"No delivery with id '{deliveryId}' is stored.");

    /// <summary>
    /// The outcomes of a group in one statement (its own transaction): each stored delivery's row is updated and its
    /// attempt logged; returns the ids of the deliveries that are not stored (they wrote nothing), usually none, so
    /// that a group reads nothing back per outcome.
    /// </summary>
    internal const string RecordOutcomesSql = """
        WITH v AS (
            SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::integer[], $6::integer[], $7::integer[], $8::text[], $9::bigint[], $10::integer[])
                AS v(id, number, started_at, duration_ticks, outcome, status_code, error_kind, error, next_due_at, status)),
        u AS (
            UPDATE conductor_deliveries AS d SET status = v.status, attempts = d.attempts + 1, due_at = COALESCE(v.next_due_at, d.due_at),
                last_status_code = v.status_code, last_error_kind = v.error_kind, last_error = v.error, leased_until = NULL,
                finished_at = CASE WHEN v.status <> 0 THEN v.started_at + v.duration_ticks END
            FROM v WHERE d.id = v.id
            RETURNING d.id),
        a AS (
            INSERT INTO conductor_attempts
            SELECT v.id, v.number, v.started_at, v.duration_ticks, v.outcome, v.status_code, v.error_kind, v.error, v.next_due_at FROM v JOIN u ON u.id = v.id
            ON CONFLICT (delivery_id, number) DO UPDATE SET started_at = EXCLUDED.started_at, duration_ticks = EXCLUDED.duration_ticks,
                outcome = EXCLUDED.outcome, status_code = EXCLUDED.status_code, error_kind = EXCLUDED.error_kind, error = EXCLUDED.error, next_due_at = EXCLUDED.next_due_at)
        SELECT v.id FROM v WHERE NOT EXISTS (SELECT FROM u WHERE u.id = v.id)
        """;

    private static async Task<HashSet<string>?> RecordManyAsync(NpgsqlConnection connection, List<(AttemptLog Attempt, DeliveryStatus Next, TaskCompletionSource Done)> group)
    {
        await using var command = new NpgsqlCommand(RecordOutcomesSql, connection)
        {
            Parameters =
            {
                new() { Value = group.Select(g => g.Attempt.DeliveryId).ToArray() }, new() { Value = group.Select(g => g.Attempt.Number).ToArray() },
                new() { Value = group.Select(g => g.Attempt.StartedAt.UtcTicks).ToArray() }, new() { Value = group.Select(g => g.Attempt.Duration.Ticks).ToArray() },
                new() { Value = group.Select(g => (int)g.Attempt.Outcome).ToArray() }, new() { Value = group.Select(g => g.Attempt.StatusCode).ToArray() },
                new() { Value = group.Select(g => (int)g.Attempt.ErrorKind).ToArray() }, new() { Value = group.Select(g => g.Attempt.Error).ToArray() },
                new() { Value = group.Select(g => g.Attempt.NextDueAt?.UtcTicks).ToArray() }, new() { Value = group.Select(g => (int)g.Next).ToArray() },
            },
        };
        // Prepared once per connection (Npgsql keeps it with the physical connection): no parse or plan per group.
        await command.PrepareAsync().ConfigureAwait(false);
        HashSet<string>? missing = null;
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false)) (missing ??= new HashSet<string>(StringComparer.Ordinal)).Add(reader.GetString(0));
        return missing;
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("UPDATE conductor_deliveries SET due_at = @due, leased_until = NULL WHERE id = @id", connection);
        command.Parameters.AddWithValue("due", dueAt.UtcTicks);
        command.Parameters.AddWithValue("id", deliveryId);
        if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1) throw NotStored(deliveryId);
    }

    /// <inheritdoc />
    public async ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(NextDueSql(skipEndpoints is { Count: > 0 }), connection);
        command.Parameters.AddWithValue("skip", (skipEndpoints ?? Array.Empty<string>()).ToArray());
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
    }

    /// <inheritdoc />
    public async ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {ReadColumns} FROM conductor_deliveries WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", deliveryId);
        return (await ReadRecordsAsync(command, cancellationToken).ConfigureAwait(false)).SingleOrDefault();
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand { Connection = connection };
        var where = query.SqlWhere(value => "@" + command.Parameters.AddWithValue("p" + command.Parameters.Count, value).ParameterName);
        command.CommandText = $"SELECT {ReadColumns} FROM conductor_deliveries {where} ORDER BY created_at DESC, id DESC LIMIT @limit";
        command.Parameters.AddWithValue("limit", query.Limit);
        return await ReadRecordsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<AttemptSample>> RecentAttemptsAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT d.endpoint, a.started_at, a.duration_ticks, a.outcome, a.status_code
            FROM conductor_attempts a JOIN conductor_deliveries d ON d.id = a.delivery_id
            WHERE a.started_at >= @since ORDER BY a.started_at DESC LIMIT @limit
            """, connection);
        command.Parameters.AddWithValue("since", since.UtcTicks);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<AttemptSample>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new AttemptSample(reader.GetString(0), new DateTimeOffset(reader.GetInt64(1), TimeSpan.Zero), TimeSpan.FromTicks(reader.GetInt64(2)),
                (AttemptOutcome)reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetInt32(4)));
        }

        return result;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT number, started_at, duration_ticks, outcome, status_code, error_kind, error, next_due_at FROM conductor_attempts WHERE delivery_id = @id ORDER BY number", connection);
        command.Parameters.AddWithValue("id", deliveryId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<AttemptLog>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new AttemptLog(deliveryId, reader.GetInt32(0), new DateTimeOffset(reader.GetInt64(1), TimeSpan.Zero), TimeSpan.FromTicks(reader.GetInt64(2)),
                (AttemptOutcome)reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetInt32(4), (AttemptErrorKind)reader.GetInt32(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : new DateTimeOffset(reader.GetInt64(7), TimeSpan.Zero)));
        }

        return result;
    }

    /// <inheritdoc />
    public async ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("UPDATE conductor_deliveries SET status = 0, due_at = @now, max_attempts = attempts + max_attempts, leased_until = NULL, finished_at = NULL WHERE id = @id AND status = 2", connection);
        command.Parameters.AddWithValue("now", now.UtcTicks);
        command.Parameters.AddWithValue("id", deliveryId);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default) =>
        PurgeAsync(createdBefore, null, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, DeliveryStatus? status, CancellationToken cancellationToken = default)
    {
        if (status == DeliveryStatus.Pending) throw new ArgumentException("Pending deliveries are never purged; purge delivered or dead-lettered ones.", nameof(status));
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            WITH gone AS (DELETE FROM conductor_deliveries WHERE status <> 0 AND (@status < 0 OR status = @status) AND created_at < @before RETURNING id)
            , logs AS (DELETE FROM conductor_attempts WHERE delivery_id IN (SELECT id FROM gone))
            SELECT count(*) FROM gone
            """, connection);
        command.Parameters.AddWithValue("before", createdBefore.UtcTicks);
        command.Parameters.AddWithValue("status", status is null ? -1 : (int)status.Value);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The @max oldest expired rows of one finished status (through conductor_deliveries_finished), deleted with their attempts.</summary>
    // The outer condition is checked again on each row's newest version: a dead letter replayed meanwhile is kept.
    internal const string PruneSql = """
        WITH gone AS (
            DELETE FROM conductor_deliveries
            WHERE id = ANY(ARRAY(
                    SELECT id FROM conductor_deliveries WHERE status = @status AND finished_at < @before
                    ORDER BY finished_at LIMIT @max FOR UPDATE SKIP LOCKED))
                AND status = @status AND finished_at < @before
            RETURNING id),
        logs AS (DELETE FROM conductor_attempts WHERE delivery_id IN (SELECT id FROM gone))
        SELECT count(*) FROM gone
        """;

    /// <inheritdoc />
    /// <remarks>
    /// One short transaction that first takes a transaction-level advisory lock without waiting: while another process
    /// prunes, this one deletes nothing (returns 0), so one process at a time prunes across the cluster.
    /// </remarks>
    public async ValueTask<int> PruneAsync(DeliveryStatus status, DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken = default)
    {
        if (status == DeliveryStatus.Pending) throw new ArgumentException("Pending deliveries are never pruned; prune delivered or dead-lettered ones.", nameof(status));
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var take = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({PruneLock})", connection, transaction))
        {
            if (!(bool)(await take.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!) return 0;
        }

        await using var command = new NpgsqlCommand(PruneSql, connection, transaction);
        command.Parameters.AddWithValue("status", (int)status);
        command.Parameters.AddWithValue("before", finishedBefore.UtcTicks);
        command.Parameters.AddWithValue("max", max);
        var deleted = Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    private const string SizeSql = "SELECT pg_total_relation_size('conductor_deliveries') + pg_total_relation_size('conductor_attempts')";

    /// <inheritdoc />
    /// <remarks>Both tables with their indexes and TOAST data (<c>pg_total_relation_size</c>).</remarks>
    public async ValueTask<long> SizeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(SizeSql, connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public async ValueTask<DeliveryStoreUsage> UsageAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT status, count(*) FROM conductor_deliveries GROUP BY status; {SizeSql}", connection);
        long pending = 0, delivered = 0, dead = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            switch ((DeliveryStatus)reader.GetInt32(0))
            {
                case DeliveryStatus.Pending: pending = reader.GetInt64(1); break;
                case DeliveryStatus.Delivered: delivered = reader.GetInt64(1); break;
                default: dead += reader.GetInt64(1); break;
            }
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new DeliveryStoreUsage(pending, delivered, dead, reader.GetInt64(0));
    }

    private static async Task<List<DeliveryRecord>> ReadRecordsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<DeliveryRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new DeliveryRecord(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                (byte[])reader.GetValue(6), new DateTimeOffset(reader.GetInt64(7), TimeSpan.Zero), new DateTimeOffset(reader.GetInt64(8), TimeSpan.Zero),
                (DeliveryStatus)reader.GetInt32(9), reader.GetInt32(10), reader.GetInt32(11), reader.IsDBNull(12) ? null : reader.GetInt32(12),
                (AttemptErrorKind)reader.GetInt32(13), reader.IsDBNull(14) ? null : reader.GetString(14))
            {
                TraceParent = reader.IsDBNull(15) ? null : reader.GetString(15),
                FinishedAt = reader.IsDBNull(16) ? null : new DateTimeOffset(reader.GetInt64(16), TimeSpan.Zero),
            });
        }

        return result;
    }

    /// <summary>Writes what is pending and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_pending.Writer.TryComplete()) await _flusher.ConfigureAwait(false);
        if (_outcomes.Writer.TryComplete()) await _outcomeFlusher.ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Wakes the delivery worker when any process announces new deliveries (<c>LISTEN conductor_deliveries</c>).</summary>
internal sealed class PostgreSqlWakeUp(IDeliveryStore store, DeliverySignal signal, TimeProvider time) : Microsoft.Extensions.Hosting.BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        store is PostgreSqlDeliveryStore postgres ? postgres.ListenAsync(signal.Notify, time, stoppingToken) : Task.CompletedTask;
}

/// <summary>
/// At start-up, with <c>Conductor:AutoMigrate</c> false, checks that the schema is current and fails start-up when it is
/// behind (or newer), naming the command that migrates it. A server that cannot be reached does not fail start-up: the
/// store reports it at its first use and in the store health check.
/// </summary>
internal sealed class PostgreSqlSchemaCheck(IDeliveryStore store, Microsoft.Extensions.Options.IOptions<Conductor.Sdk.ConductorOptions> options) : Microsoft.Extensions.Hosting.IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.AutoMigrate || store is not PostgreSqlDeliveryStore postgres) return;
        DeliveryStoreSchema schema;
        try
        {
            schema = await postgres.ReadSchemaAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return;
        }

        if (schema.IsCurrent) return;
        throw new InvalidOperationException(schema.IsNewer
            ? PostgreSqlDeliveryStore.NewerThanPackage(schema.Store, schema.Version, schema.Latest)
            : PostgreSqlDeliveryStore.Behind(schema.Store, schema.Version, schema.Latest));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
