using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #18 point 4: with a backlog in the SQLite store, finding and leasing what is due must not cost more as the
/// backlog grows (Notify's group commit waits behind the lease). SQLite's query plans are deterministic, so each
/// statement the worker runs is held to plans that read only the rows they return: a seek by id, or one of the partial
/// indexes of waiting and leased rows. A plan that walks an index of status or due time (as the lease's
/// <c>UPDATE … WHERE id IN (…)</c> once did, through the whole backlog) or scans the table fails here.
/// </summary>
public sealed class SqliteQueryPlanTests : IDisposable
{
    private readonly TempDirectory _directory = new("conductor-plans");

    // The partial indexes of schema v5; the primary key only as a seek by id.
    private static readonly string[] Waiting = ["deliveries_waiting", "deliveries_waiting_due", "deliveries_leased"];

    public static TheoryData<string, string> Statements() => new()
    {
        { "lease the oldest due", SqliteDeliveryStore.LeaseSql(SqliteDeliveryStore.OldestDueSql) },
        { "lease chosen ids", SqliteDeliveryStore.LeaseSql("$c0, $c1, $c2") },
        { "next lease end", SqliteDeliveryStore.NextLeaseEndSql },
        { "next waiting", SqliteDeliveryStore.NextWaitingSql },
        { "ended leases", SqliteDeliveryStore.EndedLeasesSql },
        { "one endpoint's due rows", SqliteDeliveryStore.EndpointDueSql },
        { "endpoints with waiting rows", SqliteDeliveryStore.WaitingEndpointsSql },
    };

    [Theory]
    [MemberData(nameof(Statements))]
    public void Each_query_for_due_deliveries_reads_only_through_an_id_seek_or_the_waiting_and_leased_indexes(string what, string sql)
    {
        var file = _directory.File("plans.db");
        new SqliteDeliveryStore(file).Dispose(); // creates and migrates the schema
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        foreach (var name in new[] { "$now", "$max", "$until", "$endpoint", "$c0", "$c1", "$c2" })
        {
            if (sql.Contains(name, StringComparison.Ordinal)) command.Parameters.AddWithValue(name, 1);
        }

        var steps = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read()) steps.Add(reader.GetString(3));
        }

        var reads = steps.Where(s => s.Contains("deliveries", StringComparison.Ordinal) && (s.StartsWith("SCAN", StringComparison.Ordinal) || s.StartsWith("SEARCH", StringComparison.Ordinal))).ToList();
        Assert.NotEmpty(reads);
        foreach (var step in reads)
        {
            var index = System.Text.RegularExpressions.Regex.Match(step, @"^SEARCH deliveries USING (?:COVERING )?INDEX (\S+)(.*)$");
            var allowed = index.Success && (Waiting.Contains(index.Groups[1].Value) ||
                (index.Groups[1].Value == "sqlite_autoindex_deliveries_1" && index.Groups[2].Value.Trim() == "(id=?)"));
            Assert.True(allowed, $"{what}: the plan step '{step}' reads rows it does not return (whole plan: {string.Join(" | ", steps)})");
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }
}
