using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #21: Notify inside the application's own transaction (<see cref="ConductorOutbox"/>), on SQLite and PostgreSQL
/// with the store in the application's database. A commit delivers, a rollback sends nothing, and a process killed
/// after the commit delivers after a restart.
/// </summary>
[Collection("postgresql")]
public sealed class OutboxTests(ITestOutputHelper output, PostgreSqlCluster cluster) : IDisposable
{
    private readonly TempDirectory _directory = new("conductor-outbox");
    private readonly ConcurrentDictionary<string, int> _arrived = new();

    /// <summary>The application's database: its own connection, and the store's location in the same database.</summary>
    private sealed record Database(string Kind, string Store, Func<DbConnection> Connect);

    private Database Create(string kind)
    {
        if (kind == "postgresql")
        {
            var connection = cluster.CreateDatabase();
            return new Database(kind, connection, () => new NpgsqlConnection(connection));
        }

        var file = _directory.File("app.db");
        return new Database(kind, file, () => new SqliteConnection($"Data Source={file};Pooling=False"));
    }

    private static IDeliveryStore OpenStore(Database database) =>
        database.Kind == "postgresql" ? new PostgreSqlDeliveryStore(database.Store) : new SqliteDeliveryStore(database.Store);

    private Task<Receiver> StartReceiverAsync(bool failFirst = false) => Receiver.StartAsync((request, _) =>
    {
        var times = _arrived.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1);
        return Reply.Status(failFirst && times == 1 ? 500 : 200);
    });

    private static WebhookNotificationDefinition Webhook(Uri url) =>
        new("orders", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "outbox-secret" }, 3, TimeSpan.FromSeconds(5));

    private static async Task<DbConnection> OpenApplicationAsync(Database database)
    {
        var connection = database.Connect();
        await connection.OpenAsync();
        await Execute(connection, null, "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)");
        return connection;
    }

    private static async Task Execute(DbConnection connection, DbTransaction? transaction, string sql)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>One order saved and notified in one application transaction; returns the delivery id.</summary>
    private static async Task<string> PlaceOrderAsync(DbConnection application, Pipeline pipeline, string order, bool commit)
    {
        await using var transaction = await application.BeginTransactionAsync();
        await Execute(application, transaction, $"INSERT INTO orders VALUES ('{order}')");
        string id;
        using (ConductorOutbox.Enlist(transaction))
        {
            id = (await pipeline.CompletedAsync(id: order)).DeliveryIds.Single();
        }

        if (commit) await transaction.CommitAsync();
        else await transaction.RollbackAsync();
        return id;
    }

    private static async Task<long> CountAsync(DbConnection application, string table)
    {
        await using var command = application.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {table}";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_commit_delivers_and_a_rollback_sends_nothing(string kind)
    {
        var database = Create(kind);
        await using var receiver = await StartReceiverAsync();
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) }, store: () => OpenStore(database));
        _ = pipeline.Store; // opened (and its schema created) first, as host start-up does
        await using var application = await OpenApplicationAsync(database);

        var committed = await PlaceOrderAsync(application, pipeline, "order-1", commit: true);
        var rolledBack = await PlaceOrderAsync(application, pipeline, "order-2", commit: false);
        await pipeline.Processor.RunDueAsync();

        Assert.Equal(new[] { committed }, _arrived.Keys);
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(committed)).Status);
        Assert.Null(await pipeline.Store.GetAsync(rolledBack));
        Assert.Equal(1, await CountAsync(application, "orders"));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Outbox", "commit delivers, rollback sends nothing and leaves no row", "1 delivered, 0 rows for the rolled-back order", kind);
    }

    [Fact]
    public async Task On_PostgreSQL_the_worker_does_not_see_a_delivery_before_the_commit()
    {
        var database = Create("postgresql");
        await using var receiver = await StartReceiverAsync();
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) }, store: () => OpenStore(database));
        _ = pipeline.Store; // opened (and its schema created) first, as host start-up does
        await using var application = await OpenApplicationAsync(database);

        await using var transaction = await application.BeginTransactionAsync();
        string id;
        using (ConductorOutbox.Enlist(transaction))
        {
            id = (await pipeline.CompletedAsync(id: "order-1")).DeliveryIds.Single();
        }

        Assert.Equal(0, await pipeline.Processor.RunDueAsync());
        Assert.Null(await pipeline.Store.GetAsync(id));
        await transaction.CommitAsync();
        Assert.Equal(1, await pipeline.Processor.RunDueAsync());
        Assert.Equal(new[] { id }, _arrived.Keys);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_thousand_mixed_commits_and_rollbacks_lose_nothing_and_send_no_phantom(string kind)
    {
        var database = Create(kind);
        await using var receiver = await StartReceiverAsync();
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) }, store: () => OpenStore(database));
        _ = pipeline.Store; // opened (and its schema created) first, as host start-up does
        await using var application = await OpenApplicationAsync(database);
        var random = new Random(21);
        var committed = new HashSet<string>();
        var rolledBack = new HashSet<string>();
        for (var i = 0; i < 1000; i++)
        {
            var commit = random.Next(2) == 0;
            var id = await PlaceOrderAsync(application, pipeline, $"order-{i}", commit);
            (commit ? committed : rolledBack).Add(id);
        }

        while (await pipeline.Processor.RunDueAsync() > 0)
        {
        }

        Assert.Equal(committed.Order(), _arrived.Keys.Order());
        Assert.Equal(committed.Count, await CountAsync(application, "orders"));
        Assert.Equal(committed.Count, (await pipeline.Store.ListAsync(new DeliveryQuery(Limit: 2000))).Count);
        output.WriteLine($"{committed.Count} committed and delivered, {rolledBack.Count} rolled back and never sent");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Outbox", "1,000 mixed commits and rollbacks: no lost, no phantom",
            $"{committed.Count} committed, all delivered once; {rolledBack.Count} rolled back, none sent", kind);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task The_hosted_worker_delivers_soon_after_the_commit(string kind)
    {
        var database = Create(kind);
        await using var receiver = await StartReceiverAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        var conductor = builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).AddNotification(Webhook(receiver.Url()));
        if (kind == "postgresql") conductor.UsePostgreSql(database.Store);
        else conductor.UseSqlite(database.Store);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var dispatcher = host.Services.GetRequiredService<NotificationDispatcher>();
            await using var application = await OpenApplicationAsync(database);
            await using var transaction = await application.BeginTransactionAsync();
            string id;
            using (ConductorOutbox.Enlist(transaction))
            {
                id = (await dispatcher.DispatchAsync(new ExecutionCompleted(DateTimeOffset.UtcNow, "orders", "order-1", null, 1))).DeliveryIds.Single();
            }

            await transaction.CommitAsync();
            var clock = Stopwatch.StartNew();
            await receiver.WaitForAsync(1);
            output.WriteLine($"delivered {clock.ElapsedMilliseconds} ms after the commit");
            Assert.Equal(new[] { id }, _arrived.Keys);
            Conductor.Sdk.Testing.ReliabilityResults.Record("Outbox", "hosted worker picks up a committed outbox row without a restart", $"delivered {clock.ElapsedMilliseconds} ms after the commit", kind);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_store_that_cannot_join_the_transaction_refuses_with_the_reason()
    {
        var database = Create("sqlite");
        await using var receiver = await StartReceiverAsync();
        await using var application = await OpenApplicationAsync(database);

        await using (var memory = Pipeline.Create(new[] { Webhook(receiver.Url()) }))
        await using (var transaction = await application.BeginTransactionAsync())
        using (ConductorOutbox.Enlist(transaction))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await memory.CompletedAsync());
            Assert.Contains("cannot join the application's transaction", error.Message);
            Assert.Contains("'orders'", error.Message);
        }

        var other = _directory.File("other.db");
        await using (var elsewhere = Pipeline.Create(new[] { Webhook(receiver.Url()) }, store: () => new SqliteDeliveryStore(other)))
        await using (var transaction = await application.BeginTransactionAsync())
        using (ConductorOutbox.Enlist(transaction))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await elsewhere.CompletedAsync());
            Assert.Contains("cannot span two files", error.Message);
            Assert.Contains(other, error.Message);
        }

        Assert.Empty(_arrived);
    }

    /// <summary>
    /// A process that commits orders with their notifications is killed (SIGKILL) half way; every receiver answers
    /// the first attempt with a 500, so committed deliveries are still pending at the kill. After a restart every
    /// committed one arrives and no rolled-back one ever does.
    /// </summary>
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_process_killed_after_the_commit_delivers_after_a_restart(string kind)
    {
        var database = Create(kind);
        var store = kind == "postgresql" ? "postgresql:" + database.Store : database.Store;
        await using var receiver = await StartReceiverAsync(failFirst: true);
        var committed = new ConcurrentQueue<string>();
        var rolledBack = new ConcurrentQueue<string>();
        using (var app = WorkerProcess.Start(store, receiver.Url(), "outbox 1000"))
        {
            var reading = Task.Run(async () =>
            {
                while (await app.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (line.StartsWith("committed ", StringComparison.Ordinal)) committed.Enqueue(line["committed ".Length..]);
                    else if (line.StartsWith("rolled-back ", StringComparison.Ordinal)) rolledBack.Enqueue(line["rolled-back ".Length..]);
                }
            });
            await WorkerProcess.WaitUntilAsync(() => committed.Count >= 300, TimeSpan.FromSeconds(60), "300 commits");
            app.Kill(entireProcessTree: true);
            await app.WaitForExitAsync();
            await reading;
        }

        var pendingAtKill = committed.Count(id => !_arrived.TryGetValue(id, out var n) || n < 2);
        output.WriteLine($"killed after {committed.Count} commits and {rolledBack.Count} rollbacks; {pendingAtKill} committed deliveries not yet delivered");
        Assert.True(pendingAtKill > 0, "the kill came after everything was delivered; the test proves nothing");

        using (var worker = WorkerProcess.Start(store, receiver.Url()))
        {
            await WorkerProcess.WaitUntilAsync(() => committed.All(id => _arrived.TryGetValue(id, out var n) && n >= 2), TimeSpan.FromSeconds(90), "every committed delivery");
            worker.Kill(entireProcessTree: true);
            await worker.WaitForExitAsync();
        }

        Assert.DoesNotContain(rolledBack, _arrived.ContainsKey);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Outbox", "process killed (SIGKILL) after commits, before delivery: committed delivered after restart, rolled back never",
            $"{committed.Count} committed ({pendingAtKill} pending at the kill), all delivered; {rolledBack.Count} rolled back, none sent", kind);
    }

    public void Dispose() => _directory.Dispose();
}
