using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The durable path without lease queries (issue #18): a delivery stored while the worker has room is leased in the write
/// that stores it and started at once; while an endpoint's queue is full its new deliveries wait in the store, the
/// worker stops querying for them, and none is handed over ahead of them.
/// </summary>
public sealed class HandoffTests
{
    [Fact]
    public async Task A_delivery_stored_while_the_worker_has_room_is_leased_on_disk_and_sent_without_a_lease_query()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var harness = await Harness.StartAsync(Orders(receiver));
        var (store, pipeline) = (harness.Store, harness.Pipeline);
        var leases = Volatile.Read(ref store.Leases);

        var ids = new List<string>();
        for (var i = 0; i < 20; i++) ids.AddRange((await pipeline.CompletedAsync(id: $"exec-{i}")).DeliveryIds);
        await receiver.WaitForAsync(20);

        Assert.Equal(20, Volatile.Read(ref store.LeasedEnqueues));
        Assert.Equal(0, Volatile.Read(ref store.PlainEnqueues));
        Assert.Equal(leases, Volatile.Read(ref store.Leases));
        Assert.Equal(ids.Order(), receiver.Requests.Select(r => r.Header("X-Conductor-Delivery-Id")).Order());
        foreach (var id in ids) await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Delivered);
    }

    [Fact]
    public async Task The_lease_of_a_handed_over_delivery_is_on_disk_before_Notify_returns()
    {
        // A hanging receiver keeps the attempt open: the row must already say who holds it, so another process sharing
        // the file leaves it alone, and a crash hands it to the others only when the lease ends.
        await using var receiver = await Receiver.StartAsync(Reply.Hang);
        await using var harness = await Harness.StartAsync(Orders(receiver, TimeSpan.FromMinutes(1)));
        var id = (await harness.Pipeline.CompletedAsync()).DeliveryIds.Single();
        Assert.Equal((Pipeline.Start + TimeSpan.FromMinutes(2)).UtcTicks, LeasedUntil(harness.File, id));
        await receiver.WaitForAsync(1);

        // Another process's lease query does not return it while the lease holds, and does once it has ended.
        await using var other = new SqliteDeliveryStore(harness.File);
        Assert.Empty(await other.LeaseDueAsync(Pipeline.Start.AddMinutes(1), 10, Pipeline.Start.AddMinutes(3)));
        Assert.Equal(id, (await other.LeaseDueAsync(Pipeline.Start.AddMinutes(2), 10, Pipeline.Start.AddMinutes(4))).Single().Id);
    }

    [Fact]
    public async Task While_the_only_endpoint_is_saturated_its_backlog_waits_in_the_store_without_queries_and_gets_no_handoff_ahead_of_it()
    {
        // The first three requests hang until their timeout; every later one is answered at once.
        await using var receiver = await Receiver.StartAsync((_, index) => index < 3 ? Reply.Hang : Reply.Status(200));
        await using var harness = await Harness.StartAsync(Orders(receiver, TimeSpan.FromSeconds(30)), options =>
        {
            options.MaxConcurrentPerEndpoint = 1;
            options.MaxConcurrentDeliveries = 1;
            options.MaxQueuedPerEndpoint = 2;
            options.MaxQueuedTotal = 10;
            options.BatchSize = 1;
        });
        var (store, pipeline, file) = (harness.Store, harness.Pipeline, harness.File);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.AddRange((await pipeline.CompletedAsync(id: $"exec-{i}")).DeliveryIds);
        await receiver.WaitForAsync(1);
        await WaitUntilAsync(() => pipeline.Processor.BusyEndpoints.Count == 1);

        // Saturated: twenty more are stored unleased, and looking for due work queries nothing.
        var (leases, nextDues, leasedEnqueues) = (Volatile.Read(ref store.Leases), Volatile.Read(ref store.NextDues), Volatile.Read(ref store.LeasedEnqueues));
        for (var i = 3; i < 23; i++) ids.AddRange((await pipeline.CompletedAsync(id: $"exec-{i}")).DeliveryIds);
        for (var i = 0; i < 5; i++) Assert.Equal(0, await pipeline.Processor.StartDueAsync());
        Assert.Equal(leases, Volatile.Read(ref store.Leases));
        Assert.Equal(nextDues, Volatile.Read(ref store.NextDues));
        Assert.Equal(leasedEnqueues, Volatile.Read(ref store.LeasedEnqueues));
        Assert.Equal(20, UnleasedPending(file));
        // Nor does storing them wake the worker: its lease would skip that endpoint, and the processor wakes it as the
        // queue drains. (With a backlog this saves a worker round per Notify; see the benchmarks README.)
        var endpoint = pipeline.Processor.BusyEndpoints.Single();
        Assert.False(pipeline.Processor.Stored(new[] { Unleased(endpoint) }));

        // After the quiet poll interval the processor looks once more (another process may have stored work).
        pipeline.Time.Advance(DeliveryProcessor.PollWhileQuiet);
        await pipeline.Processor.StartDueAsync();
        Assert.True(Volatile.Read(ref store.Leases) > leases);

        // The hanging attempts time out; then the backlog drains, each delivery sent once, and a delivery stored
        // while the backlog waits is not handed over ahead of it.
        var late = (await pipeline.CompletedAsync(id: "exec-late")).DeliveryIds.Single();
        ids.Add(late);
        Assert.Equal(leasedEnqueues, Volatile.Read(ref store.LeasedEnqueues));
        for (var attempted = 2; attempted <= 4; attempted++)
        {
            pipeline.Time.Advance(TimeSpan.FromSeconds(30));
            await receiver.WaitForAsync(attempted, TimeSpan.FromSeconds(10));
        }

        pipeline.Time.Advance(TimeSpan.FromSeconds(30));
        await receiver.WaitForAsync(ids.Count, TimeSpan.FromSeconds(20));
        var sent = receiver.Requests.Select(r => r.Header("X-Conductor-Delivery-Id")).ToList();
        Assert.Equal(ids.Order(), sent.Order());
        Assert.Equal(late, sent[^1]);
        await WaitUntilAsync(() => pipeline.Processor.BusyEndpoints.Count == 0);
        Assert.True(pipeline.Processor.Stored(new[] { Unleased(endpoint) }));
    }

    private static DeliveryRecord Unleased(string endpoint) =>
        new("dlv_stored", "orders", EventNames.ExecutionCompleted, "orders", "webhook", endpoint, ReadOnlyMemory<byte>.Empty,
            Pipeline.Start, Pipeline.Start, DeliveryStatus.Pending, 0, 1);

    /// <summary>
    /// A Notify made while the processor's view of the store is not whole (here: a signal that another process stored
    /// something, and the worker's query for it is still running) waits for that query's result and is then handed over.
    /// Stored unleased, it would flag its endpoint again and need one more query, and under steady load, with queries
    /// that take milliseconds, every Notify would (issue #18: with PostgreSQL most deliveries went that way).
    /// </summary>
    [Fact]
    public async Task A_Notify_made_while_the_worker_queries_the_store_waits_for_the_result_and_is_handed_over()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var harness = await Harness.StartAsync(Orders(receiver));
        var (store, pipeline) = (harness.Store, harness.Pipeline);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref store.HoldLeases, hold);
        var leases = Volatile.Read(ref store.Leases);
        pipeline.Services.GetRequiredService<DeliverySignal>().Notify();
        await WaitUntilAsync(() => Volatile.Read(ref store.Leases) > leases);

        var notify = pipeline.CompletedAsync(id: "exec-during-query").AsTask();
        await WaitUntilAsync(() => pipeline.Processor.WaitingForLease);
        Assert.False(notify.IsCompleted);
        Assert.Equal(0, Volatile.Read(ref store.PlainEnqueues));
        Assert.Equal(0, Volatile.Read(ref store.LeasedEnqueues));

        hold.SetResult();
        var id = (await notify).DeliveryIds.Single();
        await receiver.WaitForAsync(1);
        Assert.Equal(1, Volatile.Read(ref store.LeasedEnqueues));
        Assert.Equal(0, Volatile.Read(ref store.PlainEnqueues));
        Assert.Equal(0, UnleasedPending(harness.File));
        Assert.Equal(id, receiver.Requests.Single().Header("X-Conductor-Delivery-Id"));
    }

    private static WebhookNotificationDefinition[] Orders(Receiver receiver, TimeSpan? timeout = null) =>
        new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }, retries: 0, timeout: timeout ?? TimeSpan.FromSeconds(10)) };

    private static long? LeasedUntil(string file, string id)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT leased_until FROM deliveries WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return command.ExecuteScalar() as long?;
    }

    private static long UnleasedPending(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM deliveries WHERE status = 0 AND leased_until IS NULL";
        return (long)command.ExecuteScalar()!;
    }

    private static Task WaitUntilAsync(Func<bool> condition) => WorkerProcess.WaitUntilAsync(condition, TimeSpan.FromSeconds(10), "the condition");

    private static Task WaitUntilAsync(Func<Task<bool>> condition) => WorkerProcess.WaitUntilAsync(condition, TimeSpan.FromSeconds(10), "the condition");

    /// <summary>A store that counts the calls the worker and the dispatcher make.</summary>
    private sealed class CountingStore(SqliteDeliveryStore inner) : DelegatingStore(inner), ILeasingDeliveryStore, IAsyncDisposable
    {
        public int Leases, NextDues, LeasedEnqueues, PlainEnqueues;
        // When set, lease queries wait for it (a query in flight).
        public TaskCompletionSource? HoldLeases;

        public ValueTask EnqueueLeasedAsync(IReadOnlyList<DeliveryRecord> deliveries, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref LeasedEnqueues, deliveries.Count);
            return inner.EnqueueLeasedAsync(deliveries, leaseUntil, cancellationToken);
        }

        public override ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref PlainEnqueues, deliveries.Count);
            return base.EnqueueAsync(deliveries, cancellationToken);
        }

        public override async ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Leases);
            if (Volatile.Read(ref HoldLeases) is { } hold) await hold.Task;
            return await base.LeaseDueAsync(now, max, leaseUntil, skipEndpoints, cancellationToken);
        }

        public override ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref NextDues);
            return base.NextDueAsync(skipEndpoints, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    /// <summary>
    /// A pipeline on a fresh SQLite file behind a <see cref="CountingStore"/>, with its worker started and past its first
    /// look at the (empty) store.
    /// </summary>
    private sealed class Harness : IAsyncDisposable
    {
        private readonly TempDirectory _directory;
        private readonly DeliveryWorker _worker;

        private Harness(TempDirectory directory, string file, CountingStore store, Pipeline pipeline, DeliveryWorker worker) =>
            (_directory, File, Store, Pipeline, _worker) = (directory, file, store, pipeline, worker);

        public string File { get; }
        public CountingStore Store { get; }
        public Pipeline Pipeline { get; }

        public static async Task<Harness> StartAsync(WebhookNotificationDefinition[] notifications, Action<ConductorOptions>? configure = null)
        {
            var directory = new TempDirectory("handoff");
            var file = directory.File("deliveries.db");
            var store = new CountingStore(new SqliteDeliveryStore(file));
            var pipeline = Pipeline.Create(notifications, configure, store: () => store);
            var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
            await worker.StartAsync(CancellationToken.None);
            await WaitUntilAsync(() => Volatile.Read(ref store.NextDues) >= 1);
            return new Harness(directory, file, store, pipeline, worker);
        }

        public async ValueTask DisposeAsync()
        {
            await _worker.StopAsync(CancellationToken.None);
            await Pipeline.DisposeAsync();
            _directory.Dispose();
        }
    }
}
