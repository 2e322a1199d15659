using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

public sealed class DeliveryWorkerTests
{
    [Fact]
    public async Task A_timer_that_fires_a_little_before_the_clock_reaches_the_due_time_does_not_stall_the_worker()
    {
        // System timers tick on their own clock, in whole milliseconds: one can fire just before GetUtcNow() reaches the
        // time it was set for. The worker must then set a new timer for the remaining moment instead of waiting for a signal.
        await using var receiver = await Receiver.StartAsync(Reply.Status(500), Reply.Status(200));
        Pipeline? created = null;
        await using var pipeline = created = Pipeline.Create(
            new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }, retries: 1) },
            services: s => s.AddSingleton<TimeProvider>(_ => new EarlyTimers(created!.Time)));
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
        await worker.StartAsync(CancellationToken.None);
        try
        {
            await receiver.WaitForAsync(1);
            await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Attempts == 1);
            Assert.Equal(Pipeline.Start.AddSeconds(1), (await pipeline.RecordAsync(id)).DueAt);

            // The retry's timer fires 1 ms early: nothing is due yet when the worker looks.
            pipeline.Time.Advance(TimeSpan.FromMilliseconds(999));
            await Task.Delay(100);
            Assert.Equal(1, receiver.Count);
            pipeline.Time.Advance(TimeSpan.FromMilliseconds(1));
            await receiver.WaitForAsync(2, TimeSpan.FromSeconds(10));
            await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Delivered);
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_delivery_stored_while_its_endpoint_queue_is_full_is_sent_once_the_queue_drains()
    {
        // One slot and a queue of two for the endpoint: after three events it is saturated, so storing a fourth does not
        // wake the worker. The fourth must still go out once the queue has drained.
        await using var hanging = await Receiver.StartAsync(Reply.Hang);
        await using var pipeline = Pipeline.Create(
            new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, hanging.Url(), new[] { "s" }, retries: 0, timeout: TimeSpan.FromSeconds(1)) },
            options =>
            {
                options.MaxConcurrentPerEndpoint = 1;
                options.MaxConcurrentDeliveries = 1;
                options.MaxQueuedPerEndpoint = 2;
                options.MaxQueuedTotal = 2;
                options.BatchSize = 1;
            });
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.AddRange((await pipeline.CompletedAsync(id: $"exec-{i}")).DeliveryIds);
        var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
        await worker.StartAsync(CancellationToken.None);
        try
        {
            await hanging.WaitForAsync(1);
            await WaitUntilAsync(() => Task.FromResult(pipeline.Processor.BusyEndpoints.Count == 1));
            ids.AddRange((await pipeline.CompletedAsync(id: "exec-3")).DeliveryIds);

            for (var attempted = 2; attempted <= 4; attempted++)
            {
                pipeline.Time.Advance(TimeSpan.FromSeconds(1));
                await hanging.WaitForAsync(attempted, TimeSpan.FromSeconds(10));
            }

            Assert.Equal(ids, hanging.Requests.Select(r => r.Header("X-Conductor-Delivery-Id")));
            pipeline.Time.Advance(TimeSpan.FromSeconds(1));
            foreach (var id in ids)
            {
                await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.DeadLettered);
            }
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_retry_recorded_after_the_worker_went_to_sleep_is_sent_when_it_is_due()
    {
        // Found by the systematic tests (issue #37): an attempt ends after the worker has gone to sleep for its idle poll
        // (30 s). Its retry, due 5 s later, must wake the worker to set its timer earlier; it used to wait for the poll.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var receiver = await Receiver.StartAsync((_, index) => index switch { 0 => Reply.Status(503), 1 => Reply.After(gate.Task, 503), _ => Reply.Status(200) });
        await using var pipeline = Pipeline.Create(
            new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }, retries: 2) });
        var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
        await worker.StartAsync(CancellationToken.None);
        try
        {
            var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
            await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Attempts == 1);
            pipeline.Time.Advance(TimeSpan.FromSeconds(1));
            await receiver.WaitForAsync(2);
            await WaitUntilAsync(() => Task.FromResult(worker.Sleeping && worker.LastLoop >= Pipeline.Start.AddSeconds(1)));
            gate.SetResult();
            await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Attempts == 2);
            Assert.Equal(Pipeline.Start.AddSeconds(6), (await pipeline.RecordAsync(id)).DueAt);
            pipeline.Time.Advance(TimeSpan.FromSeconds(5));
            await receiver.WaitForAsync(3, TimeSpan.FromSeconds(10));
            await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Delivered);
        }
        finally
        {
            gate.TrySetResult();
            await worker.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_process_that_stalled_past_its_lease_does_not_start_its_running_delivery_again()
    {
        // Found by the systematic tests (issue #37): a stall (a long GC pause, a suspended VM) outlives the lease of an
        // attempt in flight; when the worker runs again its lease query returns that delivery. It must not be attempted a
        // second time while the first attempt is still running in this process. (The attempt timeout is longer than the
        // lease here only to hold the attempt in flight: after a real stall the timeout and the worker race.)
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var receiver = await Receiver.StartAsync((_, index) => index == 0 ? Reply.After(gate.Task, 200) : Reply.Status(200));
        await using var pipeline = Pipeline.Create(
            new[] { new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }, retries: 1, timeout: TimeSpan.FromSeconds(60)) },
            options => options.LeaseDuration = TimeSpan.FromSeconds(30));
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
        await worker.StartAsync(CancellationToken.None);
        try
        {
            await receiver.WaitForAsync(1);
            await WaitUntilAsync(() => Task.FromResult(worker.Sleeping));
            // The stall ends 45 s later: the lease ran out, the attempt's timeout has not, and the worker's idle timer fires.
            pipeline.Time.Advance(TimeSpan.FromSeconds(45));
            var resumed = pipeline.Time.GetUtcNow();
            await WaitUntilAsync(() => Task.FromResult(worker.LastLoop >= resumed && worker.Sleeping));
            Assert.Equal(1, receiver.Count);
            gate.SetResult();
            await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Delivered);
            Assert.Equal(1, (await pipeline.RecordAsync(id)).Attempts);
            Assert.Equal(1, receiver.Count);
        }
        finally
        {
            gate.TrySetResult();
            await worker.StopAsync(CancellationToken.None);
        }
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition) => WorkerProcess.WaitUntilAsync(condition, TimeSpan.FromSeconds(10), "the condition");

    /// <summary>A clock whose timers fire 1 ms before the time they were set for.</summary>
    private sealed class EarlyTimers(FakeTimeProvider time) : TimeProvider
    {
        private static readonly TimeSpan Early = TimeSpan.FromMilliseconds(1);

        public override DateTimeOffset GetUtcNow() => time.GetUtcNow();
        public override long GetTimestamp() => time.GetTimestamp();
        public override long TimestampFrequency => time.TimestampFrequency;
        public override TimeZoneInfo LocalTimeZone => time.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new EarlyTimer(time.CreateTimer(callback, state, Shift(dueTime), period));

        private static TimeSpan Shift(TimeSpan due) => due > Early ? due - Early : due;

        private sealed class EarlyTimer(ITimer inner) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(Shift(dueTime), period);
            public void Dispose() => inner.Dispose();
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
