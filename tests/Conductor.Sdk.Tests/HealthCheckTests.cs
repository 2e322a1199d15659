using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Issue #22 point 4: AddHealthChecks().AddConductor() reports the store, the worker and the dead-letter backlog.</summary>
public sealed class HealthCheckTests
{
    private static IHost BuildHost(Action<ConductorBuilder> store, Action<Diagnostics.ConductorHealthCheckOptions>? health = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Logging.ClearProviders();
        store(builder.Services.AddConductor());
        builder.Services.AddHealthChecks().AddConductor(health);
        return builder.Build();
    }

    private static async Task<HealthReportEntry> Check(IHost host, string name)
    {
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == name);
        return report.Entries[name];
    }

    [Fact]
    public async Task A_started_host_on_the_default_SQLite_store_is_healthy_and_the_worker_check_follows_the_host()
    {
        using var root = new TempDirectory("conductor-health");
        using var host = BuildHost(c => c.UseSqlite(root.File("deliveries.db")));

        var before = await Check(host, "conductor-worker");
        Assert.Equal(HealthStatus.Unhealthy, before.Status);
        Assert.Contains("has not started", before.Description);

        await host.StartAsync();
        var worker = await WaitForStatus(host, "conductor-worker", HealthStatus.Healthy);
        Assert.Equal("The delivery worker is running.", worker.Description);
        var store = await Check(host, "conductor-store");
        Assert.Equal(HealthStatus.Healthy, store.Status);
        Assert.Equal("SqliteDeliveryStore", store.Data["store"]);
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains("conductor"));
        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal(new[] { "conductor-dead-letters", "conductor-endpoints", "conductor-store", "conductor-worker" }, report.Entries.Keys.Order());

        await host.StopAsync();
        var stopped = await Check(host, "conductor-worker");
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
        Assert.Contains("has stopped", stopped.Description);
    }

    [Fact]
    public async Task The_dead_letter_check_degrades_above_its_threshold_and_says_how_to_replay()
    {
        using var host = BuildHost(c => c.UseInMemoryStore(), o => o.DeadLetterThreshold = 2);
        var store = host.Services.GetRequiredService<IDeliveryStore>();
        var now = DateTimeOffset.UtcNow;

        async Task DeadLetter(string id)
        {
            await store.EnqueueAsync([new DeliveryRecord(id, "orders", "execution.failed", "0", "webhook", "https://a.example.com", new byte[] { 1 }, now, now.AddHours(1), DeliveryStatus.Pending, 0, 1)]);
            await store.RecordAttemptAsync(new AttemptLog(id, 1, now, TimeSpan.FromMilliseconds(5), AttemptOutcome.Permanent, 410, AttemptErrorKind.HttpStatus, "410 Gone", null), DeliveryStatus.DeadLettered);
        }

        await DeadLetter("dlv_1");
        await DeadLetter("dlv_2");
        var atThreshold = await Check(host, "conductor-dead-letters");
        Assert.Equal(HealthStatus.Healthy, atThreshold.Status);
        Assert.Equal("2 dead-lettered deliveries (threshold 2).", atThreshold.Description);

        await DeadLetter("dlv_3");
        var over = await Check(host, "conductor-dead-letters");
        Assert.Equal(HealthStatus.Degraded, over.Status);
        Assert.Contains("More than 2 deliveries are dead-lettered", over.Description);
        Assert.Contains("conductor deliveries replay --all-dead-lettered", over.Description);
    }

    [Fact]
    public async Task The_endpoints_check_degrades_when_an_endpoints_oldest_due_delivery_is_too_old_or_a_disabled_one_holds_deliveries()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Pipeline.Start);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddConductor(o => o.Endpoints.BacklogAgeThreshold = TimeSpan.FromMinutes(10)).UseInMemoryStore();
        builder.Services.AddHealthChecks().AddConductor();
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<IDeliveryStore>();
        await store.EnqueueAsync([new DeliveryRecord("dlv_1", "orders", "execution.failed", "orders#0", "webhook", "https://slow.example.com", new byte[] { 1 }, Pipeline.Start, Pipeline.Start, DeliveryStatus.Pending, 0, 4)]);

        time.Advance(TimeSpan.FromMinutes(9));
        var fresh = await Check(host, "conductor-endpoints");
        Assert.Equal(HealthStatus.Healthy, fresh.Status);
        Assert.Equal("healthy, 1 due, oldest 540 s", fresh.Data["https://slow.example.com"]);

        time.Advance(TimeSpan.FromMinutes(2));
        var late = await Check(host, "conductor-endpoints");
        Assert.Equal(HealthStatus.Degraded, late.Status);
        Assert.Contains("due deliveries older than 00:10:00 wait for https://slow.example.com (1, oldest 11 min, healthy)", late.Description);

        // Disabled, it is not late but paused: still visible.
        await host.Services.GetRequiredService<IEndpointAdmin>().DisableAsync("https://slow.example.com", "maintenance");
        var paused = await Check(host, "conductor-endpoints");
        Assert.Equal(HealthStatus.Degraded, paused.Status);
        Assert.Contains("disabled endpoints hold due deliveries: https://slow.example.com (1; maintenance)", paused.Description);
        Assert.Contains("conductor endpoints enable", paused.Description);
    }

    [Fact]
    public async Task An_unreachable_PostgreSQL_store_is_unhealthy_without_its_password_in_the_report()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens on this port any more
        using var host = BuildHost(c => c.UsePostgreSql($"Host=127.0.0.1;Port={port};Username=app;Password=hunter2-secret;Database=orders;Timeout=2"), o => o.StoreTimeout = TimeSpan.FromSeconds(10));

        var store = await Check(host, "conductor-store");
        Assert.Equal(HealthStatus.Unhealthy, store.Status);
        Assert.StartsWith("The delivery store (PostgreSqlDeliveryStore) cannot be reached:", store.Description);
        Assert.DoesNotContain("hunter2-secret", store.Description);
        Assert.DoesNotContain("hunter2-secret", store.Exception?.ToString() ?? string.Empty);
    }

    [Fact]
    public async Task A_worker_loop_stuck_in_the_store_is_reported_as_stuck()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var hanging = new HangingStore();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddConductor();
        builder.Services.Replace(ServiceDescriptor.Singleton<IDeliveryStore>(hanging));
        builder.Services.AddHealthChecks().AddConductor(o => o.WorkerStaleAfter = TimeSpan.FromMinutes(2));
        using var host = builder.Build();
        await host.StartAsync();
        await WaitForStatus(host, "conductor-worker", HealthStatus.Healthy);

        hanging.Hang = true;
        host.Services.GetRequiredService<DeliverySignal>().Notify(); // wakes the loop, which now hangs in NextDueAsync
        await hanging.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromMinutes(3));

        var stuck = await Check(host, "conductor-worker");
        Assert.Equal(HealthStatus.Unhealthy, stuck.Status);
        // The loop last went round when it was woken, and has hung since, for the 3 minutes advanced after.
        Assert.Equal("The delivery worker's loop has been silent for 180 s (limit 120 s): it is stuck.", stuck.Description);
        hanging.Release.TrySetResult();
        await host.StopAsync();
    }

    private static async Task<HealthReportEntry> WaitForStatus(IHost host, string name, HealthStatus status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var entry = await Check(host, name);
            if (entry.Status == status || DateTime.UtcNow > deadline) return entry;
            await Task.Delay(20);
        }
    }

    /// <summary>The in-memory store, whose NextDueAsync can be made to hang, as a store on a dead network share would.</summary>
    private sealed class HangingStore() : DelegatingStore(new InMemoryDeliveryStore())
    {
        public volatile bool Hang;
        public readonly TaskCompletionSource Entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
        {
            if (Hang)
            {
                Entered.TrySetResult();
                await Release.Task.WaitAsync(cancellationToken);
            }

            return await Inner.NextDueAsync(skipEndpoints, cancellationToken);
        }
    }
}
