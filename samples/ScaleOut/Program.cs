// Scale-out and the transactional outbox on PostgreSQL (docs/outbox.md).
//
//   dotnet run --project samples/ScaleOut -- worker "<connection string>"          # start three of these
//   dotnet run --project samples/ScaleOut -- orders "<connection string>" 1000     # place orders, each with its notification
//
// Every worker leases deliveries from the same conductor_deliveries table (FOR UPDATE SKIP LOCKED): a delivery is
// attempted by one worker at a time, and the leases of a worker that dies are taken over when they expire.
// "orders" saves each order and calls Notify in one Npgsql transaction: a rolled-back order sends nothing.
using System.Globalization;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Npgsql;
using ScaleOut.Ensembles;

if (args is not [("worker" or "orders") and var mode, var connectionString, ..])
{
    Console.Error.WriteLine("usage: ScaleOut worker <connection string> | orders <connection string> <count>");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
// ORDERS_WEBHOOK_URL and ORDERS_WEBHOOK_SECRET come from the environment (or appsettings.json).
builder.Services.AddConductor(options =>
    {
        options.LeaseDuration = TimeSpan.FromSeconds(30);
        // Webhooks may not reach private or loopback addresses unless allowed: this demo's receiver runs on this machine.
        if (Uri.TryCreate(builder.Configuration["ORDERS_WEBHOOK_URL"], UriKind.Absolute, out var url) && url.IsLoopback) options.AllowedNetworks.Add("127.0.0.1/32");
    })
    .UsePostgreSql(connectionString)
    .AddEnsembles();
if (mode == "orders")
{
    // This process only places orders: the workers deliver.
    builder.Services.RemoveAll<IHostedService>();
}

using var host = builder.Build();
await host.StartAsync();
if (mode == "worker")
{
    Console.WriteLine($"worker {Environment.ProcessId} delivering from PostgreSQL; Ctrl+C to stop");
    await host.WaitForShutdownAsync();
    return 0;
}

var count = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 100;
var orders = host.Services.GetRequiredService<OrderPlacedEnsemble>();
await using var data = NpgsqlDataSource.Create(connectionString);
await using (var create = data.CreateCommand("CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, total numeric NOT NULL)"))
{
    await create.ExecuteNonQueryAsync();
}

var committed = 0;
for (var i = 0; i < count; i++)
{
    var orderId = $"order-{Guid.NewGuid():N}";
    await using var connection = await data.OpenConnectionAsync();
    await using var transaction = await connection.BeginTransactionAsync();
    await using (var insert = new NpgsqlCommand("INSERT INTO orders VALUES (@id, @total)", connection, transaction))
    {
        insert.Parameters.AddWithValue("id", orderId);
        insert.Parameters.AddWithValue("total", 10m + i);
        await insert.ExecuteNonQueryAsync();
    }

    using (ConductorOutbox.Enlist(transaction))
    {
        await orders.Notify.ExecutionCompletedAsync(orderId, new OrderPlacedEnsemble.Output(), TimeSpan.Zero);
    }

    // One order in ten is abandoned: its notification is rolled back with it and never sent.
    if (i % 10 == 9)
    {
        await transaction.RollbackAsync();
    }
    else
    {
        await transaction.CommitAsync();
        committed++;
    }
}

Console.WriteLine($"{committed} orders committed with their notifications, {count - committed} rolled back");
await host.StopAsync();
return 0;
