using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #34: retention by default (delivered 7 days, dead-lettered 30 days, counted from when a delivery finished),
/// pruning in the worker host on the injected clock, what the store holds as metrics and health, migrations as a deploy
/// step (AutoMigrate off, concurrent index builds on PostgreSQL), and typed store outages.
/// </summary>
[Collection("postgresql")]
public sealed class RetentionTests(PostgreSqlCluster cluster, ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new("conductor-retention");

    private static IHost BuildHost(Dictionary<string, string?> settings, Action<ConductorBuilder>? store = null, Action<ConductorHealthCheckOptions>? health = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(settings);
        var conductor = builder.Services.AddConductor();
        store?.Invoke(conductor);
        builder.Services.AddHealthChecks().AddConductor(health);
        return builder.Build();
    }

    private static async Task<HealthReportEntry> StoreCheckAsync(IHost host) =>
        (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "conductor-store")).Entries["conductor-store"];

    [Fact]
    public void Retention_defaults_to_7_and_30_days_and_is_bound_from_configuration_with_Infinite()
    {
        var defaults = new ConductorOptions().Retention;
        Assert.Equal((TimeSpan.FromDays(7), TimeSpan.FromDays(30)), (defaults.Delivered, defaults.DeadLettered));

        using var host = BuildHost(new()
        {
            ["Conductor:Retention:Delivered"] = "00:00:10",
            ["Conductor:Retention:DeadLettered"] = "Infinite",
            ["Conductor:Retention:PruneInterval"] = "00:00:05",
            ["Conductor:MaxConcurrentPerEndpoint"] = "3",
        }, c => c.UseInMemoryStore());
        var options = host.Services.GetRequiredService<IOptions<ConductorOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(10), options.Retention.Delivered);
        Assert.Equal(ConductorRetentionOptions.Infinite, options.Retention.DeadLettered);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Retention.PruneInterval);
        Assert.Equal(3, options.MaxConcurrentPerEndpoint); // the rest of the section is still bound
        Assert.Null(options.Retention.For(DeliveryStatus.DeadLettered));
        Assert.Null(options.Retention.For(DeliveryStatus.Pending));
    }

    [Theory]
    [InlineData("Conductor:Retention:Delivered", "7 days", "is '7 days', which is not a duration")]
    [InlineData("Conductor:Retention:DeadLettered", "-1.00:00:00", "must be positive")]
    [InlineData("Conductor:Retention:PruneInterval", "Infinite", "is 'Infinite', which is not a duration")]
    public async Task A_bad_retention_value_fails_start_up_naming_the_key(string key, string value, string expected)
    {
        using var host = BuildHost(new() { [key] = value }, c => c.UseInMemoryStore());
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        output.WriteLine(error.Message);
        Assert.Contains(key, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Finished_deliveries_expire_by_their_own_retention_and_pending_ones_never_on_the_default_SQLite_store()
    {
        var file = _directory.File("deliveries.db");
        await using var ok = await Receiver.StartAsync(Reply.Status(200));
        await using var gone = await Receiver.StartAsync(Reply.Status(410));
        await using var failing = await Receiver.StartAsync(Reply.Status(500));
        var hooks = new[] { ok, gone, failing }.Select((r, i) =>
            new WebhookNotificationDefinition("orders", i, new[] { EventNames.ExecutionCompleted }, r.Url(), new[] { "s" }, retries: 5));
        await using var pipeline = Pipeline.Create(hooks, store: () => new SqliteDeliveryStore(file));
        // This pipeline's meter only: other tests' pipelines publish the same instruments in parallel.
        var telemetry = pipeline.Services.GetRequiredService<ConductorTelemetry>();
        using var meter = new MeterListener();
        var gauges = new Dictionary<string, long>();
        meter.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, telemetry.Meter) && instrument.Name.StartsWith("conductor.store.", StringComparison.Ordinal)) listener.EnableMeasurementEvents(instrument);
        };
        meter.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var status = tags.ToArray().FirstOrDefault(t => t.Key == "conductor.status").Value as string;
            lock (gauges) gauges[instrument.Name + (status is null ? "" : "/" + status)] = value;
        });
        meter.Start();

        var ids = (await pipeline.CompletedAsync()).DeliveryIds;
        await pipeline.Processor.RunDueAsync();
        var (delivered, dead, pending) = (ids[0], ids[1], ids[2]);
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(delivered)).Status);
        Assert.Equal(DeliveryStatus.DeadLettered, (await pipeline.RecordAsync(dead)).Status);
        Assert.Equal(DeliveryStatus.Pending, (await pipeline.RecordAsync(pending)).Status);
        var finished = (await pipeline.RecordAsync(delivered)).FinishedAt!.Value;
        var retention = pipeline.Services.GetRequiredService<IOptions<ConductorOptions>>().Value.Retention;
        Assert.Equal(finished + TimeSpan.FromDays(7), retention.ExpiresAt(await pipeline.RecordAsync(delivered)));
        Assert.Null(retention.ExpiresAt(await pipeline.RecordAsync(pending)));

        var pruner = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryPruner>().Single();
        Assert.Equal(new PruneResult(0, 0), await pruner.PruneAsync());
        meter.RecordObservableInstruments();
        Assert.Equal(1, gauges["conductor.store.deliveries/delivered"]);
        Assert.Equal(1, gauges["conductor.store.deliveries/dead_lettered"]);
        Assert.Equal(1, gauges["conductor.store.deliveries/pending"]);
        Assert.Equal(new FileInfo(file).Length + new FileInfo(file + "-wal").Length, gauges["conductor.store.size"]);

        // Just before its seven days are up the delivered one stays; just after, it goes with its attempts. The pending
        // one (its retry not attempted, it waits in the store) stays however long.
        pipeline.Time.Advance(finished + TimeSpan.FromDays(7) - pipeline.Time.GetUtcNow() - TimeSpan.FromSeconds(1));
        Assert.Equal(new PruneResult(0, 0), await pruner.PruneAsync());
        pipeline.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(new PruneResult(1, 0), await pruner.PruneAsync());
        Assert.Null(await pipeline.Store.GetAsync(delivered));
        Assert.Empty(await pipeline.Store.AttemptsAsync(delivered));
        pipeline.Time.Advance(TimeSpan.FromDays(23));
        Assert.Equal(new PruneResult(0, 1), await pruner.PruneAsync());
        Assert.Null(await pipeline.Store.GetAsync(dead));
        Assert.Equal(DeliveryStatus.Pending, (await pipeline.RecordAsync(pending)).Status);
        meter.RecordObservableInstruments();
        Assert.Equal(0, gauges["conductor.store.deliveries/delivered"]);
        Assert.Equal(1, gauges["conductor.store.deliveries/pending"]);
    }

    [Fact]
    public async Task The_store_check_reports_degraded_above_the_size_threshold()
    {
        using var host = BuildHost(new(), c => c.UseSqlite(_directory.File("size.db")), o => o.StoreSizeThreshold = 1024);
        var entry = await StoreCheckAsync(host);
        output.WriteLine(entry.Description);
        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("above the threshold", entry.Description);
        Assert.Contains("Conductor:Retention", entry.Description);
        Assert.True((long)entry.Data["size_bytes"] > 1024);
    }

    [Fact]
    public async Task With_AutoMigrate_off_start_up_fails_while_a_SQLite_store_is_behind_and_names_the_command()
    {
        var file = _directory.File("old.db");
        CreateVersion5Sqlite(file);
        var before = await File.ReadAllBytesAsync(file);
        using (var host = BuildHost(new() { ["Conductor:AutoMigrate"] = "false" }, c => c.UseSqlite(file)))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
            output.WriteLine(error.Message);
            Assert.Contains("schema version 5", error.Message);
            Assert.Contains("needs 7", error.Message);
            Assert.Contains($"conductor store migrate --store \"{file}\"", error.Message);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Assert.Equal(before, await File.ReadAllBytesAsync(file));
        var status = SqliteDeliveryStore.ReadSchema(file);
        Assert.Equal((5, 7), (status.Version, status.Latest));
        Assert.Equal(new[]
        {
            "v6: add finished_at (retention), fill it for finished rows, index finished rows by status and finished_at",
            "v7: create the endpoints table (endpoint lifecycle: failing, disabled)",
        }, status.PendingSteps);
        var migration = SqliteDeliveryStore.MigrateSchema(file);
        Assert.Equal((5, 7), (migration.From, migration.To));
        Assert.Equal((7, 7), (SqliteDeliveryStore.MigrateSchema(file).From, SqliteDeliveryStore.ReadSchema(file).Version));
        using var after = BuildHost(new() { ["Conductor:AutoMigrate"] = "false" }, c => c.UseSqlite(file));
        await after.StartAsync();
        await after.StopAsync();
    }

    /// <summary>A store as the release before retention left it: schema version 5, one delivered row.</summary>
    internal static void CreateVersion5Sqlite(string file)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;\n" + string.Join(";\n", SqliteDeliveryStore.Migrations.Take(5)) + """
            ;
            CREATE TABLE conductor_schema (version INTEGER NOT NULL); INSERT INTO conductor_schema VALUES (5);
            INSERT INTO deliveries (id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts)
            VALUES ('dlv_v5', 'orders', 'execution.completed', 'orders#0', 'webhook', 'https://a.example.com:443', X'7B7D', 1, 2, 1, 1, 4);
            """;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task With_AutoMigrate_off_start_up_fails_while_the_PostgreSQL_tables_are_behind()
    {
        var connection = cluster.CreateDatabase();
        await CreateVersion5PostgreSqlAsync(connection, rows: 0);
        using (var host = BuildHost(new() { ["Conductor:AutoMigrate"] = "false" }, c => c.UsePostgreSql(connection)))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
            output.WriteLine(error.Message);
            Assert.Contains("schema version 5", error.Message);
            Assert.Contains("conductor store migrate", error.Message);
            Assert.DoesNotContain("Password", error.Message, StringComparison.OrdinalIgnoreCase);
        }

        await using (var store = new PostgreSqlDeliveryStore(connection, autoMigrate: false))
        {
            Assert.Equal(5, (await store.ReadSchemaAsync()).Version);
            Assert.Equal((5, 7), ((await store.MigrateSchemaAsync()).From, (await store.ReadSchemaAsync()).Version));
        }

        using var after = BuildHost(new() { ["Conductor:AutoMigrate"] = "false" }, c => c.UsePostgreSql(connection));
        await after.StartAsync();
        await after.StopAsync();
    }

    /// <summary>The tables of schema version 5 (steps 1 to 5 as they shipped), with <paramref name="rows"/> delivered rows.</summary>
    private static async Task CreateVersion5PostgreSqlAsync(string connection, int rows)
    {
        await using var data = NpgsqlDataSource.Create(connection);
        var sql = string.Join(";\n", PostgreSqlDeliveryStore.Migrations.Take(5).SelectMany(step => new[] { step.Sql }.Concat(step.After)).Where(s => s.Length > 0)
            .Select(s => s.Replace("CONCURRENTLY ", "", StringComparison.Ordinal)));
        await using (var schema = data.CreateCommand(sql + "; CREATE TABLE conductor_schema (version integer NOT NULL); INSERT INTO conductor_schema VALUES (5);"))
        {
            await schema.ExecuteNonQueryAsync();
        }

        if (rows == 0) return;
        await using var fill = data.CreateCommand($"""
            INSERT INTO conductor_deliveries (id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts)
            SELECT 'dlv_' || lpad(i::text, 8, '0'), 'orders', 'execution.completed', 'orders#0', 'webhook', 'https://h' || (i % 50) || '.example.com:443',
                   convert_to(repeat('x', 200), 'UTF8'), i, i, CASE WHEN i % 100 = 0 THEN 0 ELSE 1 END, 1, 4
            FROM generate_series(1, {rows}) AS i;
            INSERT INTO conductor_attempts SELECT id, 1, created_at, 10000, 0, 200, 0, NULL, NULL FROM conductor_deliveries WHERE status = 1 AND created_at % 10 = 0;
            ANALYZE conductor_deliveries;
            """);
        fill.CommandTimeout = 0;
        await fill.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Upgrading_a_PostgreSQL_store_of_a_million_rows_builds_its_index_without_blocking_writes()
    {
        var connection = cluster.CreateDatabase();
        await CreateVersion5PostgreSqlAsync(connection, rows: 1_000_000);

        // The running release keeps storing deliveries (its columns, as its COPY writes them) while the migration runs.
        using var stop = new CancellationTokenSource();
        var latencies = new List<double>();
        var writer = Task.Run(async () =>
        {
            await using var data = NpgsqlDataSource.Create(connection);
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var clock = Stopwatch.StartNew();
                await using var insert = data.CreateCommand("""
                    INSERT INTO conductor_deliveries (id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts)
                    VALUES (@id, 'orders', 'execution.completed', 'orders#0', 'webhook', 'https://live.example.com:443', '\x7b7d'::bytea, 1, 1, 0, 0, 4)
                    """);
                insert.Parameters.AddWithValue("id", $"dlv_live_{n++:D6}");
                await insert.ExecuteNonQueryAsync();
                lock (latencies) latencies.Add(clock.Elapsed.TotalMilliseconds);
                await Task.Delay(5);
            }

            return n;
        });

        // What the migration locks the table with, seen from another session every 10 ms: a plain CREATE INDEX takes a
        // ShareLock (writes wait for the whole build); CREATE INDEX CONCURRENTLY a ShareUpdateExclusiveLock.
        var locks = new ConcurrentDictionary<string, byte>();
        var watcher = Task.Run(async () =>
        {
            await using var data = NpgsqlDataSource.Create(connection);
            while (!stop.IsCancellationRequested)
            {
                await using var look = data.CreateCommand("SELECT mode FROM pg_locks WHERE relation = 'conductor_deliveries'::regclass AND granted");
                await using (var reader = await look.ExecuteReaderAsync())
                {
                    while (await reader.ReadAsync()) locks.TryAdd(reader.GetString(0), 0);
                }

                await Task.Delay(10);
            }
        });

        var migrating = Stopwatch.StartNew();
        DeliveryStoreMigration migration;
        await using (var store = new PostgreSqlDeliveryStore(connection, autoMigrate: false))
        {
            migration = await store.MigrateSchemaAsync();
        }

        migrating.Stop();
        await Task.Delay(200);
        stop.Cancel();
        var written = await writer;
        await watcher;
        output.WriteLine($"migration {migration.From} -> {migration.To} of 1,000,000 rows took {migrating.ElapsedMilliseconds} ms; {written} writes meanwhile, slowest {latencies.Max():0.0} ms");
        Assert.Equal((5, 7), (migration.From, migration.To));
        Assert.True(written > 20, $"only {written} writes ran during the migration");
        // A plain CREATE INDEX holds a write lock for the whole build; the concurrent one waits only for a moment.
        Assert.True(latencies.Max() < migrating.Elapsed.TotalMilliseconds / 2, $"a write waited {latencies.Max():0} ms of a {migrating.ElapsedMilliseconds} ms migration");
        output.WriteLine("locks seen on conductor_deliveries: " + string.Join(", ", locks.Keys.Order()));
        Assert.Contains("ShareUpdateExclusiveLock", locks.Keys);
        Assert.DoesNotContain("ShareLock", locks.Keys);

        await using var data = NpgsqlDataSource.Create(connection);
        await using var check = data.CreateCommand("""
            SELECT (SELECT count(*) FROM conductor_deliveries WHERE status <> 0 AND finished_at IS NULL),
                   (SELECT bool_and(indisvalid) FROM pg_index WHERE indexrelid = 'conductor_deliveries_finished'::regclass),
                   (SELECT count(*) FROM conductor_deliveries WHERE id LIKE 'dlv_live_%')
            """);
        await using var reader = await check.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal(0, reader.GetInt64(0));
        Assert.True(reader.GetBoolean(1));
        Assert.Equal(written, reader.GetInt64(2));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Schema", "PostgreSQL upgrade v5 → v6 of 1,000,000 rows while the previous release writes",
            $"{migrating.ElapsedMilliseconds} ms; {written} writes meanwhile, all stored, slowest {latencies.Max():0} ms");
    }

    [Fact]
    public async Task An_interrupted_PostgreSQL_index_build_is_resumed_by_migrating_again()
    {
        var connection = cluster.CreateDatabase();
        await using (var store = new PostgreSqlDeliveryStore(connection)) await store.ListAsync(new DeliveryQuery());
        // What an interrupted CREATE INDEX CONCURRENTLY leaves: the index present but invalid, the version not recorded.
        await using (var data = NpgsqlDataSource.Create(connection))
        await using (var damage = data.CreateCommand("""
            UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'conductor_deliveries_finished'::regclass;
            DELETE FROM conductor_schema; INSERT INTO conductor_schema VALUES (5);
            """))
        {
            await damage.ExecuteNonQueryAsync();
        }

        await using (var store = new PostgreSqlDeliveryStore(connection, autoMigrate: false))
        {
            Assert.Equal((5, 7), ((await store.MigrateSchemaAsync()).From, (await store.ReadSchemaAsync()).Version));
        }

        await using var check = NpgsqlDataSource.Create(connection).CreateCommand("SELECT indisvalid FROM pg_index WHERE indexrelid = 'conductor_deliveries_finished'::regclass");
        Assert.Equal(true, await check.ExecuteScalarAsync());
    }

    [Fact]
    public async Task On_PostgreSQL_one_process_prunes_at_a_time()
    {
        var connection = cluster.CreateDatabase();
        await using var store = new PostgreSqlDeliveryStore(connection);
        var t0 = Pipeline.Start;
        await store.EnqueueAsync(Enumerable.Range(0, 10).Select(i => DeliveryStoreContractTests.Record($"d{i}")).ToList());
        await store.LeaseDueAsync(t0, 10, t0.AddMinutes(1));
        for (var i = 0; i < 10; i++)
        {
            await store.RecordAttemptAsync(new AttemptLog($"d{i}", 1, t0, TimeSpan.FromMilliseconds(5), AttemptOutcome.Delivered, 200, Channels.AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        }

        await using var other = new NpgsqlConnection(connection);
        await other.OpenAsync();
        await using (var transaction = await other.BeginTransactionAsync())
        {
            await using var hold = new NpgsqlCommand("SELECT pg_advisory_xact_lock(7426002)", other, transaction);
            await hold.ExecuteNonQueryAsync();
            // Another process is pruning: this one deletes nothing, at once.
            Assert.Equal(0, await store.PruneAsync(DeliveryStatus.Delivered, t0.AddDays(1), 100));
        }

        Assert.Equal(10, await store.PruneAsync(DeliveryStatus.Delivered, t0.AddDays(1), 100));
    }

    [Fact]
    public async Task Notify_on_an_unreachable_PostgreSQL_fails_within_the_store_timeout_with_a_typed_error()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        var connection = $"Host=127.0.0.1;Port={port};Username=postgres;Password=hunter2-secret;Database=nowhere";
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }) },
            store: () => new PostgreSqlDeliveryStore(connection));
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(async () => await pipeline.CompletedAsync());
        output.WriteLine($"{error.Message} ({clock.ElapsedMilliseconds} ms)");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal($"PostgreSQL 127.0.0.1:{port}/nowhere", error.Store);
        Assert.Contains("cannot be reached", error.Message);
        Assert.Contains("nothing of this call was stored", error.Message);
        Assert.DoesNotContain("hunter2", error.Message);

        using var host = BuildHost(new(), c => c.UsePostgreSql(connection));
        var entry = await StoreCheckAsync(host);
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.DoesNotContain("hunter2", entry.Description);
    }

    public void Dispose() => _directory.Dispose();
}
