using System.Collections.Concurrent;
using System.Text;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #19 point 7: a webhook secret never reaches what the SDK writes down. One delivery fails twice (a 500, then a
/// reset connection) and then arrives. Afterwards the test scans the bytes of the SQLite file and its WAL, every
/// stored record and attempt, and every log message at Debug level, for the secret.
/// </summary>
public sealed class SecretScanTests
{
    private const string Secret = "canary-secret-7f3a9c";

    [Fact]
    public async Task The_secret_is_in_no_stored_byte_no_record_and_no_log_line()
    {
        var directory = Path.Combine(Path.GetTempPath(), "conductor-secret-scan-" + Guid.NewGuid().ToString("N"));
        var file = Path.Combine(directory, "deliveries.db");
        var logs = new ConcurrentQueue<string>();
        await using var receiver = await Receiver.StartAsync((_, n) => n == 0 ? Reply.Status(500) : n == 1 ? Reply.Reset : Reply.Status(200));
        var webhook = new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { Secret }, 3, TimeSpan.FromSeconds(5));
        try
        {
            string id;
            await using (var pipeline = Pipeline.Create(
                new[] { webhook },
                services: s => s.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new CollectingLoggerProvider(logs))),
                store: () => new SqliteDeliveryStore(file)))
            {
                id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
                for (var round = 0; round < 3 && (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Pending; round++)
                {
                    await pipeline.Processor.RunDueAsync();
                    pipeline.Time.Advance(TimeSpan.FromMinutes(10));
                }

                var record = await pipeline.RecordAsync(id);
                Assert.Equal(DeliveryStatus.Delivered, record.Status);
                Assert.Equal(3, record.Attempts);
                Assert.DoesNotContain(Secret, record.ToString());
                Assert.DoesNotContain(Secret, Encoding.UTF8.GetString(record.Payload.Span));
                foreach (var attempt in await pipeline.Store.AttemptsAsync(id)) Assert.DoesNotContain(Secret, attempt.ToString());

                // The receiver did get a signature made with the secret, so the secret was in use.
                Assert.All(receiver.Requests, r => Assert.StartsWith("sha256=", r.Headers.Single(h => h.Key.Equals("X-Conductor-Signature", StringComparison.OrdinalIgnoreCase)).Value));
            }

            foreach (var path in Directory.GetFiles(directory))
            {
                var bytes = await File.ReadAllBytesAsync(path);
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Secret)) < 0, $"the secret is in {Path.GetFileName(path)}");
            }

            Assert.NotEmpty(logs);
            Assert.Contains(logs, line => line.Contains(id, StringComparison.Ordinal));
            Assert.DoesNotContain(logs, line => line.Contains(Secret, StringComparison.Ordinal));
            Conductor.Sdk.Testing.ReliabilityResults.Record("Secrets", "webhook secret in no byte of the SQLite file or WAL, no record, attempt or Debug log line", $"absent from {Directory.GetFiles(directory).Length} files and {logs.Count} log lines");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The same scan over PostgreSQL: every column of every stored row, as PostgreSQL renders it.</summary>
    [Collection("postgresql")]
    public sealed class OnPostgreSql(PostgreSqlCluster cluster)
    {
        [Fact]
        public async Task The_secret_is_in_no_stored_row()
        {
            var connection = cluster.CreateDatabase();
            await using var receiver = await Receiver.StartAsync((_, n) => n == 0 ? Reply.Status(500) : n == 1 ? Reply.Reset : Reply.Status(200));
            var webhook = new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { Secret }, 3, TimeSpan.FromSeconds(5));
            await using (var pipeline = Pipeline.Create(new[] { webhook }, store: () => new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(connection)))
            {
                var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
                for (var round = 0; round < 3 && (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Pending; round++)
                {
                    await pipeline.Processor.RunDueAsync();
                    pipeline.Time.Advance(TimeSpan.FromMinutes(10));
                }

                Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
            }

            await using var data = Npgsql.NpgsqlDataSource.Create(connection);
            var rows = new List<string>();
            await using (var command = data.CreateCommand(
                "SELECT format('%s', t) FROM (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()) s, " +
                "LATERAL query_to_xml(format('SELECT * FROM %I', s.table_name), true, false, '') t"))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
            }

            Assert.Contains(rows, r => r.Contains("execution.completed", StringComparison.Ordinal));
            Assert.Contains(rows, r => r.Contains("HTTP 500", StringComparison.Ordinal));
            Assert.DoesNotContain(rows, r => r.Contains(Secret, StringComparison.Ordinal));
            Conductor.Sdk.Testing.ReliabilityResults.Record("Secrets", "webhook secret in no PostgreSQL row", $"absent from {rows.Count} tables");
            Assert.All(receiver.Requests, r => Assert.StartsWith("sha256=", r.Headers.Single(h => h.Key.Equals("X-Conductor-Signature", StringComparison.OrdinalIgnoreCase)).Value));
        }
    }
}
