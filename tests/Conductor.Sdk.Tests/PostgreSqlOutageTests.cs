using System.Collections.Concurrent;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #34 point 6: a real PostgreSQL restarted, then killed (SIGKILL), while callers keep calling Notify. Every call
/// either returns (accepted) or throws <see cref="DeliveryStoreUnavailableException"/>; every accepted delivery arrives.
/// The cluster is this test's own, so that stopping it disturbs no other test.
/// </summary>
public sealed class PostgreSqlOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly PostgreSqlCluster _cluster = new();

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task Notify_under_load_through_a_restart_and_a_kill_loses_nothing_it_accepted()
    {
        var arrived = new ConcurrentDictionary<string, int>();
        await using var receiver = await Receiver.StartAsync((request, _) =>
        {
            arrived.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1);
            return Reply.Status(200);
        });
        var connection = _cluster.CreateDatabase();
        await using var pipeline = Pipeline.Create(
            new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }) },
            store: () => new PostgreSqlDeliveryStore(connection));
        var accepted = new ConcurrentBag<string>();
        var refused = 0;
        var unexpected = new ConcurrentBag<Exception>();
        using var stop = new CancellationTokenSource();
        var callers = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    foreach (var id in (await pipeline.CompletedAsync(id: $"exec-{c}-{i}")).DeliveryIds) accepted.Add(id);
                }
                catch (DeliveryStoreUnavailableException ex)
                {
                    if (Interlocked.Increment(ref refused) == 1) output.WriteLine("first refusal: " + ex.Message);
                    await Task.Delay(20);
                }
                catch (Exception ex)
                {
                    unexpected.Add(ex);
                }
            }
        })).ToList();

        // The worker keeps sending as it would, while the server goes away twice.
        var worker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await pipeline.Processor.RunDueAsync();
                }
                catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException or IOException)
                {
                    // The worker's loop logs this and goes round again.
                }

                await Task.Delay(20);
            }
        });

        await Task.Delay(1500);
        var beforeRestart = accepted.Count;
        _cluster.Restart();
        await Task.Delay(1500);
        var beforeKill = accepted.Count;
        await _cluster.KillAndStartAsync(TimeSpan.FromSeconds(1));
        await Task.Delay(1500);
        stop.Cancel();
        await Task.WhenAll(callers);
        await worker;
        output.WriteLine($"accepted {beforeRestart} before the restart, {beforeKill} before the kill, {accepted.Count} in all; {refused} calls refused");
        Assert.Empty(unexpected);
        Assert.True(accepted.Count > beforeKill, "no Notify was accepted after the server came back");

        // Once the server is back, everything accepted goes out: outcomes lost with a connection leave leases that end
        // (LeaseDuration, 2 min, on the fake clock), and retries come due.
        for (var round = 0; round < 50 && accepted.Any(id => !arrived.ContainsKey(id)); round++)
        {
            pipeline.Time.Advance(TimeSpan.FromMinutes(3));
            await pipeline.Processor.RunDueAsync();
        }

        var missing = accepted.Where(id => !arrived.ContainsKey(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {accepted.Count} accepted deliveries never arrived, e.g. {string.Join(", ", missing.Take(5))}");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "PostgreSQL restarted and killed (SIGKILL) under Notify load: refused calls are typed, nothing accepted is lost",
            $"{accepted.Count} accepted, all delivered; {refused} refused with DeliveryStoreUnavailableException");
    }
}
