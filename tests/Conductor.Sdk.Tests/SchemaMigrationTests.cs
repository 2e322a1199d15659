using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #21 point 4: the store schemas are versioned and migrate on start-up. A store written by the release before
/// versions were kept (its exact tables, with rows) is upgraded in place: every row is kept and pending deliveries still
/// go out. A schema newer than the package understands is refused and left alone.
/// </summary>
[Collection("postgresql")]
public sealed class SchemaMigrationTests(PostgreSqlCluster cluster) : IDisposable
{
    private readonly TempDirectory _directory = new("conductor-migrate");

    // The tables as the release before schema versions created them, for SQLite ("deliveries", "attempts") and for
    // PostgreSQL (the same with "conductor_" in front, plus conductor_schema at version 1).
    // Rows of that release: one pending delivery, one dead letter with its attempt.
    private const string ReleasedRows = """
        INSERT INTO {p}deliveries VALUES ('dlv_old_pending', 'orders', 'execution.completed', 'orders#0', 'webhook', '{endpoint}', {payload}, {t}, {t}, 0, 0, 4, NULL, 0, NULL, NULL);
        INSERT INTO {p}deliveries VALUES ('dlv_old_dead', 'orders', 'execution.failed', 'orders#0', 'webhook', '{endpoint}', {payload}, {t}, {t}, 2, 1, 1, 410, 1, 'HTTP 410 Gone', NULL);
        INSERT INTO {p}attempts VALUES ('dlv_old_dead', 1, {t}, 1000, 2, 410, 1, 'HTTP 410 Gone', NULL);
        """;

    private static string Released(string prefix, string blob, string payload, Uri endpoint) => ReleasedSchema.Tables(postgreSql: prefix.Length > 0) + ReleasedRows
        .Replace("{p}", prefix, StringComparison.Ordinal).Replace("{blob}", blob, StringComparison.Ordinal)
        .Replace("{payload}", payload, StringComparison.Ordinal).Replace("{endpoint}", endpoint.ToString(), StringComparison.Ordinal)
        .Replace("{t}", Pipeline.Start.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_store_from_the_previous_release_is_upgraded_in_place_and_keeps_every_row(string kind)
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var webhook = new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted, EventNames.ExecutionFailed }, receiver.Url(), new[] { "s" });
        Func<IDeliveryStore> open;
        Func<string, Task<long>> scalar;
        if (kind == "sqlite")
        {
                var file = _directory.File("old.db");
            await using (var connection = new SqliteConnection($"Data Source={file};Pooling=False"))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = Released(string.Empty, "BLOB", "X'7B7D'", webhook.Url);
                await command.ExecuteNonQueryAsync();
            }

            open = () => new SqliteDeliveryStore(file);
            scalar = async sql =>
            {
                await using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
            };
        }
        else
        {
            var connection = cluster.CreateDatabase();
            await using var data = NpgsqlDataSource.Create(connection);
            await using (var command = data.CreateCommand(Released("conductor_", "bytea", "'\\x7b7d'::bytea", webhook.Url)))
            {
                await command.ExecuteNonQueryAsync();
            }

            open = () => new PostgreSqlDeliveryStore(connection);
            scalar = async sql =>
            {
                await using var source = NpgsqlDataSource.Create(connection);
                await using var command = source.CreateCommand(sql.Replace("sqlite_master WHERE type = 'index' AND name = '", "pg_indexes WHERE indexname = 'conductor_", StringComparison.Ordinal));
                return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
            };
        }

        await using (var pipeline = Pipeline.Create(new[] { webhook }, store: open))
        {
            // Opening the store migrated it; the rows of the old release are all there.
            var dead = await pipeline.RecordAsync("dlv_old_dead");
            Assert.Equal(DeliveryStatus.DeadLettered, dead.Status);
            // v6 filled finished_at from the end of its last attempt (started at {t}, 1000 ticks long).
            Assert.Equal(Pipeline.Start + TimeSpan.FromTicks(1000), dead.FinishedAt);
            Assert.Equal("HTTP 410 Gone", dead.LastError);
            Assert.Equal(410, Assert.Single(await pipeline.Store.AttemptsAsync("dlv_old_dead")).StatusCode);
            Assert.Equal(2, (await pipeline.Store.ListAsync(new DeliveryQuery())).Count);

            // The pending one still goes out, and the dead letter can still be replayed.
            await pipeline.Processor.RunDueAsync();
            Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync("dlv_old_pending")).Status);
            Assert.True(await pipeline.Store.ReplayAsync("dlv_old_dead", pipeline.Time.GetUtcNow()));
        }

        // v2: the (status, created_at) index; v3: trace_parent; v4: the (ensemble, created_at) index; v5: partial indexes
        // of waiting and leased rows in place of (status, due_at, id); v6: finished_at, filled for finished rows from their
        // last attempt's end (the dead letter's attempt started at {t} and took 1000 ticks), and its index; v7: the endpoint
        // states table.
        const int latest = 7;
        Assert.Equal(latest, await scalar("SELECT max(version) FROM conductor_schema"));
        foreach (var index in new[] { "status_created", "waiting", "waiting_due", "leased", "finished" })
        {
            Assert.Equal(1, await scalar($"SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'deliveries_{index}'"));
        }

        Assert.Equal(0, await scalar("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'deliveries_due'"));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Schema", "store of the previous release upgraded on start-up, rows kept",
            $"version 1 → {latest}, pending delivery sent, dead letter and its attempt kept and replayable", kind);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_schema_newer_than_the_package_is_refused_and_left_alone(string kind)
    {
        if (kind == "sqlite")
        {
                var file = _directory.File("new.db");
            new SqliteDeliveryStore(file).Dispose();
            await using (var connection = new SqliteConnection($"Data Source={file};Pooling=False"))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = "UPDATE conductor_schema SET version = 99";
                await command.ExecuteNonQueryAsync();
            }

            SqliteConnection.ClearAllPools();
            var before = await File.ReadAllBytesAsync(file);
            var error = Assert.Throws<InvalidOperationException>(() => new SqliteDeliveryStore(file));
            Assert.Contains("schema version 99, newer than this version of Conductor.Sdk understands", error.Message);
            Assert.Equal(before, await File.ReadAllBytesAsync(file));
        }
        else
        {
            var connection = cluster.CreateDatabase();
            await using (var store = new PostgreSqlDeliveryStore(connection)) await store.ListAsync(new DeliveryQuery());
            await using (var data = NpgsqlDataSource.Create(connection))
            await using (var command = data.CreateCommand("UPDATE conductor_schema SET version = 99"))
            {
                await command.ExecuteNonQueryAsync();
            }

            await using var newer = new PostgreSqlDeliveryStore(connection);
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await newer.ListAsync(new DeliveryQuery()));
            Assert.Contains("schema version 99, newer than this version of Conductor.Sdk.PostgreSql understands", error.Message);
        }
    }

    public void Dispose() => _directory.Dispose();
}
