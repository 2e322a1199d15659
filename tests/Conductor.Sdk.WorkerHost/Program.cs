using System.Globalization;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Usage: Conductor.Sdk.WorkerHost <store> <receiver url> <lease seconds> [notify <count> | outbox <count>]
//        Conductor.Sdk.WorkerHost lock <store.db>
// <store> is a SQLite file, or "postgresql:" followed by a connection string.
// Delivers the "kill-test" ensemble's webhook deliveries found in the store until it is killed. With "notify <count>"
// it also dispatches events through AddConductor's dispatcher, one after the other (all but the last, which waits to be
// killed), and prints
// "accepted <delivery id>" once each dispatch has returned (the delivery is stored), so that a test can kill it in
// mid-flight and check that every accepted delivery arrives.
// With "outbox <count>" each event is an application transaction on the store's own database: it inserts an order,
// calls Notify inside ConductorOutbox.Enlist, and commits (printing "committed <delivery id>") or, every third one,
// rolls back (printing "rolled-back <delivery id>").
// "lock" holds an exclusive write transaction on the SQLite file (as another application might) until stdin closes.
if (args is ["lock", var lockedFile])
{
    using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={lockedFile};Pooling=False");
    connection.Open();
    using (var begin = connection.CreateCommand())
    {
        begin.CommandText = "BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held_by_another_process (x INTEGER);";
        begin.ExecuteNonQuery();
    }

    Console.WriteLine("locked");
    Console.In.ReadToEnd();
    return 0;
}

if (args.Length is not (3 or 5))
{
    Console.Error.WriteLine("usage: Conductor.Sdk.WorkerHost <store.db> <receiver url> <lease seconds> [notify <count>]");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
var conductor = builder.Services.AddConductor(options =>
    {
        options.AllowedNetworks.Add("127.0.0.1/32");
        options.LeaseDuration = TimeSpan.FromSeconds(double.Parse(args[2], CultureInfo.InvariantCulture));
        // The tests' receivers fail first attempts on purpose; the breaker would (rightly) pause them for 30 s.
        options.CircuitBreakerMinimumThroughput = int.MaxValue;
    })
    .AddNotification(KillTest.Notification(new Uri(args[1])));
if (args[0].StartsWith("postgresql:", StringComparison.Ordinal)) conductor.UsePostgreSql(args[0]["postgresql:".Length..]);
else conductor.UseSqlite(args[0]);
using var host = builder.Build();
await host.StartAsync();
Console.WriteLine("ready");
if (args.Length == 5 && args[3] == "outbox")
{
    var dispatcher = host.Services.GetRequiredService<Conductor.Sdk.Delivery.NotificationDispatcher>();
    var count = int.Parse(args[4], CultureInfo.InvariantCulture);
    await using System.Data.Common.DbConnection application = args[0].StartsWith("postgresql:", StringComparison.Ordinal)
        ? new Npgsql.NpgsqlConnection(args[0]["postgresql:".Length..])
        : new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={args[0]};Pooling=False;Default Timeout=30");
    await application.OpenAsync();
    await using (var create = application.CreateCommand())
    {
        create.CommandText = "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)";
        await create.ExecuteNonQueryAsync();
    }

    for (var i = 0; i < count; i++)
    {
        await using var transaction = await application.BeginTransactionAsync();
        await using (var insert = application.CreateCommand())
        {
            insert.Transaction = transaction;
            insert.CommandText = $"INSERT INTO orders VALUES ('order-{Guid.NewGuid():N}')";
            await insert.ExecuteNonQueryAsync();
        }

        string id;
        using (Conductor.Sdk.Delivery.ConductorOutbox.Enlist(transaction))
        {
            id = (await dispatcher.DispatchAsync(new ExecutionCompleted(DateTimeOffset.UtcNow, "kill-test", $"exec-{i:D4}", null, 1))).DeliveryIds.Single();
        }

        if (i % 3 == 2)
        {
            await transaction.RollbackAsync();
            Console.WriteLine("rolled-back " + id);
        }
        else
        {
            await transaction.CommitAsync();
            Console.WriteLine("committed " + id);
        }
    }

    Console.WriteLine("all done");
}

if (args.Length == 5 && args[3] == "notify")
{
    var dispatcher = host.Services.GetRequiredService<Conductor.Sdk.Delivery.NotificationDispatcher>();
    var count = int.Parse(args[4], CultureInfo.InvariantCulture);
    for (var i = 0; i < count; i++)
    {
        // The test kills this process in mid-stream. Should the test be slow to notice (a loaded machine), the last
        // dispatch waits for the kill, so that the kill always lands before every Notify has returned.
        if (i == count - 1) await Task.Delay(Timeout.Infinite);
        var receipt = await dispatcher.DispatchAsync(new ExecutionCompleted(DateTimeOffset.UtcNow, "kill-test", $"exec-{i:D4}", null, 1));
        Console.WriteLine("accepted " + receipt.DeliveryIds.Single());
    }

    Console.WriteLine("all accepted");
}

await host.WaitForShutdownAsync();
return 0;

/// <summary>The notification both the worker and the test agree on.</summary>
public static class KillTest
{
    /// <summary>Each process's requests carry <c>X-Worker: its process id</c>, so that a receiver can tell the workers apart.</summary>
    public static WebhookNotificationDefinition Notification(Uri url) =>
        new("kill-test", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "kill-test-secret" }, retries: 5, timeout: TimeSpan.FromSeconds(2),
            headers: new Dictionary<string, string> { ["X-Worker"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
}
