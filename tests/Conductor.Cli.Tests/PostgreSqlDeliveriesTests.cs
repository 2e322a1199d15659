using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Cli.Tests;

/// <summary><c>conductor deliveries</c> against a real PostgreSQL store (a throwaway cluster started by the fixture).</summary>
[Collection("postgresql")]
public sealed class PostgreSqlDeliveriesTests(PostgreSqlCluster cluster)
{
    private static readonly DateTimeOffset Now = new(2024, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static DeliveryRecord Record(string id, DateTimeOffset created) =>
        new(id, "billing", "execution.failed", "billing#0", "webhook", "https://hooks.example.com:443",
            Encoding.UTF8.GetBytes("{\"event\":\"execution.failed\"}"), created, created, DeliveryStatus.Pending, 0, 4);

    [Fact]
    public async Task List_and_replay_work_against_a_postgresql_store()
    {
        var connection = cluster.CreateDatabase();
        await using (var store = new PostgreSqlDeliveryStore(connection))
        {
            await store.EnqueueAsync(new[] { Record("dlv_pg_dead", Now.AddHours(-2)), Record("dlv_pg_pending", Now.AddHours(-1)) });
            await store.RecordAttemptAsync(new AttemptLog("dlv_pg_dead", 1, Now.AddHours(-2), TimeSpan.FromMilliseconds(15), AttemptOutcome.Permanent, 410, AttemptErrorKind.HttpStatus, "HTTP 410 Gone", null), DeliveryStatus.DeadLettered);
        }

        var time = new FakeTimeProvider(Now);
        var list = await CliRun.RunAsync(time, "deliveries", "list", "--store", connection, "--status", "dead-lettered");
        Assert.Equal(0, list.ExitCode);
        var row = Assert.Single(list.Out.Split('\n'), l => l.Contains("dlv_", StringComparison.Ordinal));
        Assert.Contains("dlv_pg_dead", row);
        Assert.EndsWith("HTTP 410 Gone", row.TrimEnd());
        Assert.DoesNotContain("dlv_pg_pending", list.Out);

        var replay = await CliRun.RunAsync(time, "deliveries", "replay", "dlv_pg_dead", "--store", connection);
        Assert.Equal(0, replay.ExitCode);
        await using (var store = new PostgreSqlDeliveryStore(connection))
        {
            var replayed = await store.GetAsync("dlv_pg_dead");
            Assert.Equal((DeliveryStatus.Pending, Now), (replayed!.Status, replayed.DueAt));
        }
    }
}
