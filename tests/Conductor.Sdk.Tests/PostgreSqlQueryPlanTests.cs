using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #18 point 4, PostgreSQL: with a backlog of one busy endpoint, the lease and next-due statements read through
/// the primary key or the partial indexes of waiting and leased rows, never a sequential scan or an index of all rows
/// (which would walk the backlog on every lease). The plans are taken with EXPLAIN on the real statements, after
/// ANALYZE of a table holding a backlog, rows in flight and delivered rows.
/// </summary>
[Collection("postgresql")]
public sealed class PostgreSqlQueryPlanTests(PostgreSqlCluster cluster)
{
    private static readonly string[] Allowed =
        ["conductor_deliveries_pkey", "conductor_deliveries_waiting", "conductor_deliveries_waiting_due", "conductor_deliveries_leased"];

    [Theory]
    [InlineData("lease", false)]
    [InlineData("lease", true)]
    [InlineData("next due", false)]
    [InlineData("next due", true)]
    public async Task Leasing_and_next_due_read_only_through_the_key_and_the_waiting_and_leased_indexes(string statement, bool skipping)
    {
        await using var source = await BacklogAsync();
        var sql = statement == "lease" ? PostgreSqlDeliveryStore.LeaseSql(skipping) : PostgreSqlDeliveryStore.NextDueSql(skipping);
        await using var explain = source.CreateCommand("EXPLAIN (FORMAT JSON) " + sql);
        explain.Parameters.AddWithValue("until", 2_000_000L);
        explain.Parameters.AddWithValue("now", 100_000L);
        explain.Parameters.AddWithValue("max", 100);
        explain.Parameters.AddWithValue("skip", skipping ? new[] { "https://busy.example.com/" } : Array.Empty<string>());
        // Skipping, each endpoint's rows are read through the waiting index by endpoint: walking the due-time index with an
        // endpoint filter passes over every row of the endpoints before it (a dead endpoint's backlog; issue #35).
        AssertReadsOnlyThrough(await ReadsAsync(explain), skipping ? Allowed.Where(i => i != "conductor_deliveries_waiting_due").ToArray() : Allowed, $"{statement} (skipping: {skipping})");
    }

    /// <summary>
    /// Issue #35: a dead endpoint with 100,000 due rows (the oldest) beside a healthy one with 100. Leasing and next-due while
    /// skipping the dead one read the healthy one's rows through the waiting index by endpoint; through the due-time index
    /// they walked the whole backlog (178 ms a lease in the isolation benchmark).
    /// </summary>
    [Theory]
    [InlineData("lease")]
    [InlineData("next due")]
    public async Task A_skipped_endpoints_large_backlog_is_never_walked(string statement)
    {
        var connection = cluster.CreateDatabase();
        await using (var store = new PostgreSqlDeliveryStore(connection)) await store.NextDueAsync();
        await using var source = NpgsqlDataSource.Create(connection);
        await using (var fill = source.CreateCommand("""
            INSERT INTO conductor_deliveries (id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts)
            SELECT 'dlv_' || lpad(i::text, 8, '0'), 'orders', 'execution.completed', 'orders#0', 'webhook',
                   CASE WHEN i > 100000 THEN 'https://healthy.example.com' ELSE 'https://dead.example.com' END,
                   convert_to(repeat('x', 170), 'UTF8'), 1000, CASE WHEN i > 100000 THEN 1000 + i ELSE 1000 END, CASE WHEN i > 100000 THEN 1 ELSE 0 END, 0, 4
            FROM generate_series(1, 102000) AS i;
            -- As in the isolation benchmark: the dead endpoint's backlog, stored at one instant, waits; the healthy endpoint's
            -- deliveries are delivered.
            ANALYZE conductor_deliveries;
            """))
        {
            await fill.ExecuteNonQueryAsync();
        }

        var sql = statement == "lease" ? PostgreSqlDeliveryStore.LeaseSql(true) : PostgreSqlDeliveryStore.NextDueSql(true);
        await using var explain = source.CreateCommand("EXPLAIN (FORMAT JSON) " + sql);
        explain.Parameters.AddWithValue("until", 2_000_000L);
        explain.Parameters.AddWithValue("now", 1_000_000L);
        explain.Parameters.AddWithValue("max", 100);
        explain.Parameters.AddWithValue("skip", new[] { "https://dead.example.com" });
        AssertReadsOnlyThrough(await ReadsAsync(explain), ["conductor_deliveries_pkey", "conductor_deliveries_waiting", "conductor_deliveries_leased"], statement);
    }

    /// <summary>The outcomes of a group (one statement over arrays) find their rows by primary key, whatever the table holds.</summary>
    [Fact]
    public async Task Recording_a_group_of_outcomes_reads_deliveries_only_through_the_primary_key()
    {
        await using var source = await BacklogAsync();
        await using var explain = source.CreateCommand("EXPLAIN (FORMAT JSON) " + PostgreSqlDeliveryStore.RecordOutcomesSql);
        const int Group = 50;
        explain.Parameters.Add(new() { Value = Enumerable.Range(1, Group).Select(i => $"dlv_{i:00000000}").ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat(1, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat(1L, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat(1L, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat(0, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat<int?>(200, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat(0, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat<string?>(null, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat<long?>(null, Group).ToArray() });
        explain.Parameters.Add(new() { Value = Enumerable.Repeat(1, Group).ToArray() });
        AssertReadsOnlyThrough(await ReadsAsync(explain), ["conductor_deliveries_pkey"], "outcomes");
    }

    /// <summary>A fresh database with the store's schema, a backlog of 5,000 on one endpoint, 200 leased, 5,000 delivered, 50 elsewhere.</summary>
    private async Task<NpgsqlDataSource> BacklogAsync()
    {
        var connection = cluster.CreateDatabase();
        await using (var store = new PostgreSqlDeliveryStore(connection))
        {
            // Creates the schema; then a backlog of 5,000 on one endpoint, 200 leased, 5,000 delivered, 50 elsewhere.
            await store.NextDueAsync();
        }

        var source = NpgsqlDataSource.Create(connection);
        await using (var fill = source.CreateCommand("""
            INSERT INTO conductor_deliveries (id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts, leased_until)
            SELECT 'dlv_' || lpad(i::text, 8, '0'), 'orders', 'execution.completed', 'orders#0', 'webhook',
                   CASE WHEN i % 200 = 0 THEN 'https://other.example.com/' ELSE 'https://busy.example.com/' END,
                   '\x7b7d'::bytea, i, i, CASE WHEN i > 5250 THEN 1 ELSE 0 END, 0, 4, CASE WHEN i <= 200 THEN 1000000 END
            FROM generate_series(1, 10250) AS i;
            ANALYZE conductor_deliveries;
            """))
        {
            await fill.ExecuteNonQueryAsync();
        }

        return source;
    }

    private static async Task<(List<string> Reads, string Plan)> ReadsAsync(NpgsqlCommand explain)
    {
        var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
        var reads = new List<string>();
        Walk(plan.RootElement[0].GetProperty("Plan"), reads);
        return (reads, plan.RootElement.ToString());
    }

    private static void AssertReadsOnlyThrough((List<string> Reads, string Plan) explained, string[] allowed, string statement)
    {
        Assert.NotEmpty(explained.Reads);
        foreach (var read in explained.Reads)
        {
            Assert.True(allowed.Any(index => read.EndsWith(" using " + index, StringComparison.Ordinal)),
                $"{statement}: '{read}' reads rows it does not return (plan: {explained.Plan})");
        }
    }

    // Every node that reads conductor_deliveries, as "Node Type using Index Name" (no index: a scan of the table); the
    // UPDATE itself (ModifyTable) writes the rows its child nodes found.
    private static void Walk(JsonElement node, List<string> reads)
    {
        if (node.TryGetProperty("Relation Name", out var relation) && relation.GetString() == "conductor_deliveries" && node.GetProperty("Node Type").GetString() != "ModifyTable")
        {
            reads.Add(node.GetProperty("Node Type").GetString() + (node.TryGetProperty("Index Name", out var index) ? " using " + index.GetString() : ""));
        }

        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray()) Walk(child, reads);
        }
    }
}
