using System.Collections.Concurrent;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>Issue #21 with Entity Framework Core: Notify enlists in a DbContext's current transaction (SQLite and Npgsql providers).</summary>
[Collection("postgresql")]
public sealed class EntityFrameworkOutboxTests(ITestOutputHelper output, PostgreSqlCluster cluster) : IDisposable
{
    private readonly TempDirectory _directory = new("conductor-ef");
    private readonly ConcurrentDictionary<string, int> _arrived = new();

    public sealed class Order
    {
        public string Id { get; set; } = string.Empty;
    }

    public sealed class ShopContext(DbContextOptions<ShopContext> options) : DbContext(options)
    {
        public DbSet<Order> Orders => Set<Order>();
    }

    private (DbContextOptions<ShopContext> Options, Func<IDeliveryStore> Store) Database(string kind)
    {
        if (kind == "postgresql")
        {
            var connection = cluster.CreateDatabase();
            return (new DbContextOptionsBuilder<ShopContext>().UseNpgsql(connection).Options, () => new PostgreSqlDeliveryStore(connection));
        }

        var file = _directory.File("shop.db");
        return (new DbContextOptionsBuilder<ShopContext>().UseSqlite($"Data Source={file};Pooling=False").Options, () => new SqliteDeliveryStore(file));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_thousand_mixed_SaveChanges_commits_and_rollbacks_lose_nothing_and_send_no_phantom(string kind)
    {
        var (options, store) = Database(kind);
        await using (var setup = new ShopContext(options)) await setup.Database.EnsureCreatedAsync();
        await using var receiver = await Receiver.StartAsync((request, _) =>
        {
            _arrived.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1);
            return Reply.Status(200);
        });
        var webhook = new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "ef-secret" }, 3, TimeSpan.FromSeconds(5));
        await using var pipeline = Pipeline.Create(new[] { webhook }, store: store);
        _ = pipeline.Store;

        var random = new Random(2101);
        var committed = new HashSet<string>();
        var rolledBack = new HashSet<string>();
        for (var i = 0; i < 1000; i++)
        {
            await using var db = new ShopContext(options);
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(new Order { Id = $"order-{i}" });
            await db.SaveChangesAsync();
            string id;
            using (db.EnlistConductorOutbox())
            {
                id = (await pipeline.CompletedAsync(id: $"order-{i}")).DeliveryIds.Single();
            }

            if (random.Next(2) == 0)
            {
                await transaction.CommitAsync();
                committed.Add(id);
            }
            else
            {
                await transaction.RollbackAsync();
                rolledBack.Add(id);
            }
        }

        while (await pipeline.Processor.RunDueAsync() > 0)
        {
        }

        await using (var check = new ShopContext(options)) Assert.Equal(committed.Count, await check.Orders.CountAsync());
        Assert.Equal(committed.Order(), _arrived.Keys.Order());
        output.WriteLine($"{committed.Count} committed and delivered, {rolledBack.Count} rolled back and never sent");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Outbox", "EF Core: 1,000 mixed SaveChanges commits and rollbacks: no lost, no phantom",
            $"{committed.Count} committed, all delivered once; {rolledBack.Count} rolled back, none sent", kind);
    }

    [Fact]
    public async Task Enlisting_without_a_transaction_says_how_to_begin_one()
    {
        var (options, _) = Database("sqlite");
        await using var db = new ShopContext(options);
        var error = Assert.Throws<InvalidOperationException>(() => db.EnlistConductorOutbox());
        Assert.Contains("ShopContext has no current transaction", error.Message);
        Assert.Contains("BeginTransactionAsync", error.Message);
    }

    public void Dispose() => _directory.Dispose();
}
