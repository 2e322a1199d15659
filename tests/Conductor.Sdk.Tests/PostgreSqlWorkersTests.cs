using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Three workers share one PostgreSQL queue: every delivery arrives, and no two attempts of one delivery overlap.</summary>
[Collection("postgresql")]
public sealed class PostgreSqlWorkersTests(PostgreSqlCluster cluster)
{
    [Fact]
    public async Task Three_workers_never_run_attempts_of_one_delivery_concurrently()
    {
        const int Count = 300;
        var inFlight = new ConcurrentDictionary<string, int>();
        var attempts = new ConcurrentDictionary<string, int>();
        var overlaps = new ConcurrentBag<string>();
        var delivered = new ConcurrentDictionary<string, byte>();
        await using var receiver = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => Microsoft.AspNetCore.Builder.RunExtensions.Run(app, (Microsoft.AspNetCore.Http.RequestDelegate)(async context =>
        {
            var id = context.Request.Headers["X-Conductor-Delivery-Id"].ToString();
            if (inFlight.AddOrUpdate(id, 1, (_, n) => n + 1) > 1) overlaps.Add(id);
            // A receiver that takes a moment, so that overlapping attempts would be seen.
            await Task.Delay(5);
            inFlight.AddOrUpdate(id, 0, (_, n) => n - 1);
            var attempt = attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            context.Response.StatusCode = attempt == 1 ? 503 : 200;
            if (attempt > 1) delivered.TryAdd(id, 0);
        })));

        var connection = cluster.CreateDatabase();
        var notification = new WebhookNotificationDefinition("shared", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }, retries: 3, timeout: TimeSpan.FromSeconds(5));
        var hosts = new List<IHost>();
        var perWorker = new int[3];
        for (var i = 0; i < 3; i++)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddConductor(o =>
                {
                    o.AllowedNetworks.Add("127.0.0.1/32");
                    o.BatchSize = 20;
                    o.CircuitBreakerMinimumThroughput = int.MaxValue;
                })
                .UsePostgreSql(connection)
                .AddNotification(notification);
            var host = builder.Build();
            var worker = i;
            host.Services.GetRequiredService<DeliveryProcessor>().AttemptRecorded += _ => Interlocked.Increment(ref perWorker[worker]);
            await host.StartAsync();
            hosts.Add(host);
        }

        try
        {
            // Stored once the three are running (and listening), so that no worker drains the queue before another starts.
            await using (var store = new PostgreSqlDeliveryStore(connection))
            {
                var now = DateTimeOffset.UtcNow;
                await store.EnqueueAsync(Enumerable.Range(0, Count).Select(i => new DeliveryRecord($"dlv_shared_{i:D3}", "shared", EventNames.ExecutionCompleted, notification.Key, "webhook",
                    notification.Endpoint, Encoding.UTF8.GetBytes("{}"), now, now, DeliveryStatus.Pending, 0, notification.Retries + 1)).ToList());
            }

            var clock = Stopwatch.StartNew();
            // The receiver counts a delivery before its reply reaches the worker, so wait for the outcomes to be recorded
            // too: stopping a host earlier cancels attempts still in flight (they would be sent again, at least once).
            while (delivered.Count < Count || Enumerable.Range(0, perWorker.Length).Sum(i => Volatile.Read(ref perWorker[i])) < 2 * Count)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException($"{delivered.Count} of {Count} delivered, {perWorker.Sum()} attempts recorded after 90 s");
                await Task.Delay(20);
            }
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.StopAsync();
                host.Dispose();
            }
        }

        Assert.Empty(overlaps);
        // The three really shared the work.
        Assert.All(perWorker, n => Assert.True(n > 0, $"a worker made no attempt: {string.Join(", ", perWorker)}"));
        Assert.Equal(2 * Count, perWorker.Sum());
        Assert.Equal(Count, delivered.Count);
        // Each delivery failed once and succeeded once: no attempt was sent twice by two workers.
        Assert.All(attempts.Values, n => Assert.Equal(2, n));
    }

    /// <summary>
    /// A delivery stored by another process (here another store on the same database) or committed by an application's
    /// transaction wakes an idle worker through LISTEN/NOTIFY, instead of waiting for its 30 s idle poll.
    /// </summary>
    [Fact]
    public async Task Deliveries_stored_elsewhere_wake_an_idle_worker_at_once()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var connection = cluster.CreateDatabase();
        var notification = new WebhookNotificationDefinition("shared", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" });
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UsePostgreSql(connection).AddNotification(notification);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var other = new PostgreSqlDeliveryStore(connection);
            await other.EnqueueAsync(Array.Empty<DeliveryRecord>());
            // Let the worker go idle (it has nothing to do) before the other process stores something.
            await Task.Delay(500);
            var now = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            await other.EnqueueAsync(new[] { new DeliveryRecord("dlv_elsewhere_1", "shared", EventNames.ExecutionCompleted, notification.Key, "webhook",
                notification.Endpoint, Encoding.UTF8.GetBytes("{}"), now, now, DeliveryStatus.Pending, 0, 4) });
            await receiver.WaitForAsync(1);
            var stored = clock.Elapsed;

            await using var data = Npgsql.NpgsqlDataSource.Create(connection);
            await using var application = await data.OpenConnectionAsync();
            await using var transaction = await application.BeginTransactionAsync();
            await other.EnqueueAsync(new[] { new DeliveryRecord("dlv_elsewhere_2", "shared", EventNames.ExecutionCompleted, notification.Key, "webhook",
                notification.Endpoint, Encoding.UTF8.GetBytes("{}"), now, now, DeliveryStatus.Pending, 0, 4) }, transaction);
            clock.Restart();
            await transaction.CommitAsync();
            await receiver.WaitForAsync(2);
            var committed = clock.Elapsed;

            // Well under the worker's 30 s idle poll: it was woken.
            Assert.True(stored < TimeSpan.FromSeconds(5), $"took {stored}");
            Assert.True(committed < TimeSpan.FromSeconds(5), $"took {committed}");
            Conductor.Sdk.Testing.ReliabilityResults.Record("Scale-out", "a delivery stored by another process, or committed by an application transaction, wakes an idle worker (idle poll 30 s)",
                $"delivered {stored.TotalMilliseconds:0} ms after another process stored it, {committed.TotalMilliseconds:0} ms after the commit");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>
    /// A store's listener is not told of what that store stored itself (its process knows), but is of what another
    /// store stored and of what an application's transaction committed through the store itself (issue #18: its own
    /// announcements told the processor that its view of the store was not whole, so it stopped handing deliveries over).
    /// </summary>
    [Fact]
    public async Task A_stores_listener_skips_its_own_announcements_but_hears_other_stores_and_enlisted_commits()
    {
        var connection = cluster.CreateDatabase();
        await using var store = new PostgreSqlDeliveryStore(connection);
        await using var other = new PostgreSqlDeliveryStore(connection);
        var heard = 0;
        using var stop = new CancellationTokenSource();
        var listening = store.ListenAsync(() => Interlocked.Increment(ref heard), TimeProvider.System, stop.Token);
        // Called once as it starts listening (for what was stored while nobody listened).
        await WorkerProcess.WaitUntilAsync(() => Volatile.Read(ref heard) >= 1, TimeSpan.FromSeconds(10), "the listener to start");

        var now = DateTimeOffset.UtcNow;
        DeliveryRecord Record(string id) => new(id, "shared", EventNames.ExecutionCompleted, "shared#0", "webhook", "http://127.0.0.1:9/hooks",
            Encoding.UTF8.GetBytes("{}"), now, now, DeliveryStatus.Pending, 0, 4);
        // Announcements reach a listener in commit order, so once the last one is heard every earlier one has been seen.
        await store.EnqueueAsync(new[] { Record("dlv_own") });
        await other.EnqueueAsync(new[] { Record("dlv_other_1") });
        await using (var data = Npgsql.NpgsqlDataSource.Create(connection))
        await using (var application = await data.OpenConnectionAsync())
        await using (var transaction = await application.BeginTransactionAsync())
        {
            await store.EnqueueAsync(new[] { Record("dlv_enlisted") }, transaction);
            await transaction.CommitAsync();
        }

        await other.EnqueueAsync(new[] { Record("dlv_other_2") });
        await WorkerProcess.WaitUntilAsync(() => Volatile.Read(ref heard) >= 4, TimeSpan.FromSeconds(10), "the last announcement", () => $"heard {Volatile.Read(ref heard)}");
        Assert.Equal(4, Volatile.Read(ref heard));
        await stop.CancelAsync();
        await listening;
    }
}
