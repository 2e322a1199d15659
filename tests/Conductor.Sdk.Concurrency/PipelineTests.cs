using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.Coyote;
using Microsoft.Coyote.Logging;
using Microsoft.Coyote.SystematicTesting;
using Microsoft.Coyote.Specifications;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Conductor.Sdk.Concurrency;

/// <summary>
/// Issue #37: the real dispatcher, processor (handoff included), worker and endpoint isolation on the in-memory store,
/// explored by Coyote: each test runs its scenario in many interleavings of its tasks (CI: 1,000 iterations;
/// CONDUCTOR_COYOTE_ITERATIONS for a long search), and any bug is reported with the seed that reproduces it.
/// </summary>
public sealed class PipelineTests(ITestOutputHelper output)
{
    private static int Iterations => int.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_ITERATIONS"), out var n) ? n : 1000;

    /// <summary>Runs <paramref name="scenario"/> under Coyote; a seed (CONDUCTOR_COYOTE_SEED) replays one schedule.</summary>
    private void Explore(Func<Task> scenario)
    {
        // The seam: the attempt path uses the standard builder and Task.Run, which Coyote controls (ControlledScheduling).
        ControlledScheduling.Enabled = true;
        var configuration = Configuration.Create()
            .WithTestingIterations((uint)Iterations)
            // A schedule longer than this is a busy loop (livelock): reported as a bug, not cut short silently.
            .WithMaxSchedulingSteps(100_000)
            .WithFailureOnMaxStepsBoundEnabled(true)
            // Every task, lock and wait must be one Coyote controls: an uncontrolled one is an error, not a silent switch
            // to fuzzing (random real delays), which is what hid the uncontrolled waits at first.
            .WithPartiallyControlledConcurrencyAllowed(false)
            .WithSystematicFuzzingFallbackEnabled(false)
            .WithUncontrolledInvocationStackTraceLoggingEnabled(true)
            // With bug-trace reproduction on, Coyote left a newly started task (a worker loop) unscheduled for over 20,000
            // steps in some schedules, so every scenario failed its rest check; off, seeds are best effort (see the docs).
            .WithNoBugTraceRepro()
            .WithPotentialDeadlocksReportedAsBugs(true)
            .WithDeadlockTimeout(30000);
        if (uint.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_SEED"), out var fixedSeed))
        {
            configuration = configuration.WithRandomGeneratorSeed(fixedSeed).WithTestingIterations(1);
        }

        if (Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_TRACE") is { Length: > 0 })
        {
            configuration = configuration.WithVerbosityEnabled(VerbosityLevel.Exhaustive).WithConsoleLoggingEnabled(true);
        }

        using var engine = TestingEngine.Create(configuration, scenario);
        engine.Run();
        var report = engine.TestReport;
        output.WriteLine($"{report.NumOfExploredFairPaths + report.NumOfExploredUnfairPaths} paths explored, {report.NumOfFoundBugs} bug(s)");
        Assert.True(report.NumOfFoundBugs == 0, $"uncontrolled: {string.Join("; ", report.UncontrolledInvocations)}\n{string.Join("\n", report.BugReports)}\nseed: {configuration.RandomGeneratorSeed}\n{engine.GetReport()}");
    }

    private static int RetriesOf(string ensemble) => 2;

    [Fact]
    public void Concurrent_Notify_calls_race_the_worker_and_every_delivery_is_attempted_until_it_ends() => Explore(async () =>
    {
        // Endpoint a delivers after one retry, b always fails (dead letters after 3 attempts), c answers 410 at once.
        var channel = new ScriptedChannel(attempt => attempt.Delivery.Ensemble switch
        {
            "a" => attempt.Number == 1 ? Step.Retry : Step.Deliver,
            "b" => Step.Retry,
            _ => Step.Permanent,
        }, perEndpoint: 1, total: 2);
        var time = new FakeTimeProvider(Process.Start);
        await using var process = new Process(channel, time, new InMemoryDeliveryStore(),
            [Process.Webhook("a", "a.test"), Process.Webhook("b", "b.test"), Process.Webhook("c", "c.test")],
            o => { o.MaxConcurrentPerEndpoint = 1; o.MaxConcurrentDeliveries = 2; o.CircuitBreakerMinimumThroughput = 1000; o.LeaseDuration = TimeSpan.FromDays(1); });
        await process.StartWorkerAsync();

        var notifies = new[] { "a", "b", "c", "a" }.Select((ensemble, i) => Task.Run(() => process.NotifyAsync(ensemble, "x" + i))).ToArray();
        var ids = (await Task.WhenAll(notifies)).SelectMany(x => x).ToList();

        await Invariants.SettleAsync(process, ids);
        await Invariants.CheckStoreAsync(process.Store, ids, _ => 2);
        foreach (var id in ids)
        {
            var record = await process.Store.GetAsync(id);
            var expected = record!.Ensemble switch { "a" => (DeliveryStatus.Delivered, 2), "b" => (DeliveryStatus.DeadLettered, 3), _ => (DeliveryStatus.DeadLettered, 1) };
            Specification.Assert((record.Status, record.Attempts) == expected, $"delivery {id} of '{record.Ensemble}' ended {record.Status} after {record.Attempts}, expected {expected}: " + string.Join("; ", (await process.Store.AttemptsAsync(id)).Select(a => $"#{a.Number} {a.Outcome} {a.ErrorKind} {a.Error}")) + "\n" + string.Join("\n", ExceptionLog.Seen.Take(1)));
        }
    });

    /// <summary>Ends of the three scripted ensembles: a delivers after one retry, b dead-letters after 3 attempts, c after one (410).</summary>
    private static Step Script(DeliveryAttempt attempt) => attempt.Delivery.Ensemble switch
    {
        "a" => attempt.Number == 1 ? Step.Retry : Step.Deliver,
        "b" => Step.Retry,
        _ => Step.Permanent,
    };

    private static NotificationDefinition[] Notifications => [Process.Webhook("a", "a.test"), Process.Webhook("b", "b.test"), Process.Webhook("c", "c.test")];

    private static async Task ExpectEndsAsync(IDeliveryStore store, IEnumerable<string> ids)
    {
        foreach (var id in ids)
        {
            var record = await store.GetAsync(id);
            var expected = record!.Ensemble switch { "a" => (DeliveryStatus.Delivered, 2), "b" => (DeliveryStatus.DeadLettered, 3), _ => (DeliveryStatus.DeadLettered, 1) };
            Specification.Assert((record.Status, record.Attempts) == expected, $"delivery {id} of '{record.Ensemble}' ended {record.Status} after {record.Attempts}, expected {expected}: " +
                string.Join("; ", (await store.AttemptsAsync(id)).Select(a => $"#{a.Number} {a.Outcome} at {a.StartedAt:HH:mm:ss}")));
        }
    }

    [Fact]
    public void The_worker_stops_mid_flight_and_a_new_process_sends_what_it_left() => Explore(async () =>
    {
        // Process 1 stops at any point of its work (its stop races the Notify calls and the attempts); process 2, on the
        // same store, sends what was left once the leases of process 1 run out.
        var store = new InMemoryDeliveryStore();
        var time = new FakeTimeProvider(Process.Start);
        void Configure(ConductorOptions o) { o.MaxConcurrentPerEndpoint = 1; o.MaxConcurrentDeliveries = 2; o.CircuitBreakerMinimumThroughput = 1000; o.LeaseDuration = TimeSpan.FromMinutes(2); }
        var first = new Process(new ScriptedChannel(Script, 1, 2), time, store, Notifications, Configure);
        await first.StartWorkerAsync();
        var notifies = new[] { "a", "b", "c" }.Select((ensemble, i) => Task.Run(() => first.NotifyAsync(ensemble, "x" + i))).ToArray();
        // The host stops its worker (StopAsync) while Notify calls still come in; then the process ends.
        var stop = Task.Run(first.StopWorkerAsync);
        var ids = (await Task.WhenAll(notifies)).SelectMany(x => x).ToList();
        await stop;
        await first.DisposeAsync();

        await using var second = new Process(new ScriptedChannel(Script, 1, 2), time, store, Notifications, Configure);
        await second.StartWorkerAsync();
        await Invariants.SettleAsync(second, ids);
        // A delivery whose attempt the stop cancelled waits for its lease to end (2 minutes) before process 2 sends it.
        await Invariants.CheckStoreAsync(store, ids, _ => 2, lateness: TimeSpan.FromMinutes(2));
        await ExpectEndsAsync(store, ids);
    });

    [Fact]
    public void A_stalled_process_whose_lease_ran_out_never_runs_a_second_attempt_of_the_same_delivery() => Explore(async () =>
    {
        // The first attempt of each delivery hangs on a gate the test opens (a stalled process: its clock jumps past the
        // lease while the attempt is still running). The worker must not start the same delivery again in this process.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var channel = new ScriptedChannel(attempt => attempt.Number == 1 ? Step.Gate : Step.Deliver, 2, 4) { Gate = gate.Task };
        var time = new FakeTimeProvider(Process.Start);
        await using var process = new Process(channel, time, new InMemoryDeliveryStore(), [Process.Webhook("a", "a.test"), Process.Webhook("b", "b.test")],
            o => { o.CircuitBreakerMinimumThroughput = 1000; o.LeaseDuration = TimeSpan.FromMinutes(1); });
        await process.StartWorkerAsync();
        var ids = (await Task.WhenAll(process.NotifyAsync("a", "x1"), process.NotifyAsync("b", "x2"))).SelectMany(x => x).ToList();
        // Both first attempts are in flight behind the gate, and the worker sleeps.
        await Invariants.QuiescedAsync(process, running: 2);
        time.Advance(TimeSpan.FromMinutes(3));
        // The worker wakes (its timer) and leases again while the gate opens at any point of that.
        var open = Task.Run(async () =>
        {
            await Task.Yield();
            gate.TrySetResult();
        });
        await open;
        await Invariants.QuiescedAsync(process);
        await Invariants.SettleAsync(process, ids);
        foreach (var id in ids)
        {
            var record = await process.Store.GetAsync(id);
            Specification.Assert(record!.Status == DeliveryStatus.Delivered, $"delivery {id} is {record.Status} after {record.Attempts} attempt(s)");
        }
    });

    [Fact]
    public void A_replay_racing_the_last_retry_is_refused_or_resends_the_delivery_with_a_fresh_budget() => Explore(async () =>
    {
        // b fails every attempt. The operator's replay races its last attempt: either the delivery was already dead-lettered
        // (the replay is accepted and b is attempted 3 more times) or it was not (the replay is refused, nothing changes).
        var time = new FakeTimeProvider(Process.Start);
        await using var process = new Process(new ScriptedChannel(Script, 1, 2), time, new InMemoryDeliveryStore(), Notifications,
            o => { o.CircuitBreakerMinimumThroughput = 1000; o.LeaseDuration = TimeSpan.FromDays(1); });
        await process.StartWorkerAsync();
        var id = Assert.Single(await process.NotifyAsync("b", "x1"));
        // Up to the last retry (attempts at +0 s, +1 s, +6 s): the replay is tried while the third one may be running.
        while ((await process.Store.GetAsync(id))!.Attempts < 2)
        {
            await Invariants.QuiescedAsync(process);
            var next = await process.Store.NextDueAsync();
            if (next is { } due && due > time.GetUtcNow()) time.Advance(due - time.GetUtcNow());
        }

        await Invariants.QuiescedAsync(process);
        var due3 = (await process.Store.GetAsync(id))!.DueAt;
        if (due3 > time.GetUtcNow()) time.Advance(due3 - time.GetUtcNow());
        var replayed = Task.Run(async () =>
        {
            try
            {
                await process.Admin.ReplayAsync(id);
                return true;
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        });
        var accepted = await replayed;
        await Invariants.SettleAsync(process, [id]);
        var record = (await process.Store.GetAsync(id))!;
        Specification.Assert(record.Status == DeliveryStatus.DeadLettered, $"{id} is {record.Status}");
        var attempts = await process.Store.AttemptsAsync(id);
        Specification.Assert(attempts.Count == (accepted ? 6 : 3), $"replay {(accepted ? "accepted" : "refused")}, {attempts.Count} attempts: " + string.Join("; ", attempts.Select(a => $"#{a.Number} {a.Outcome} at {a.StartedAt:HH:mm:ss}")));
        Specification.Assert(attempts.Select(a => a.Number).SequenceEqual(Enumerable.Range(1, attempts.Count)), "attempt numbers are not 1..n: " + string.Join(",", attempts.Select(a => a.Number)));
        Specification.Assert(process.Channel.Started.Count == attempts.Count, $"{process.Channel.Started.Count} attempts started, {attempts.Count} recorded");
    });

    [Fact]
    public void Deliveries_committed_with_the_application_transaction_while_the_worker_is_quiet_are_sent() => Explore(async () =>
    {
        // An enlisted Notify signals the worker (NotifyEnlisted) when it writes, but the rows appear only when the
        // application commits, which no event announces. The commit races the worker's rounds and its quiet periods.
        var time = new FakeTimeProvider(Process.Start);
        var store = new InMemoryDeliveryStore();
        await using var process = new Process(new ScriptedChannel(Script, 1, 2), time, store, Notifications,
            o => { o.CircuitBreakerMinimumThroughput = 1000; o.LeaseDuration = TimeSpan.FromDays(1); });
        await process.StartWorkerAsync();
        var records = new[] { "a", "c" }.Select(ensemble => new DeliveryRecord(DeliveryRecord.NewId(time), ensemble, EventNames.ExecutionCompleted,
            process.Notification(ensemble).DeliveryKey(0, 1), "webhook", process.Notification(ensemble).Endpoint, "{}"u8.ToArray(), time.GetUtcNow(), time.GetUtcNow(),
            DeliveryStatus.Pending, 0, 3)).ToList();
        process.Signal.NotifyEnlisted(time.GetUtcNow());
        var commit = Task.Run(async () =>
        {
            await Task.Yield();
            await store.EnqueueAsync(records);
        });
        await Invariants.QuiescedAsync(process);
        await commit;
        var ids = records.Select(r => r.Id).ToList();
        // Within the enlisted window the worker finds them by its short poll: no signal, only the clock.
        await Invariants.SettleAsync(process, ids);
        await Invariants.CheckStoreAsync(store, ids, _ => 2);
        await ExpectEndsAsync(store, ids);
    });

    [Fact]
    public void An_endpoints_deliveries_start_in_the_order_they_were_stored() => Explore(async () =>
    {
        // Where ordering is promised: one endpoint, one slot; three deliveries stored one after another (each Notify returns
        // before the next begins, 1 ms apart) while another endpoint's Notify calls and the worker race them. The first
        // attempts must start in the order of storing, whether each went through the handoff, the endpoint's queue or the
        // store (a backlog flag keeps newer ones from overtaking).
        var time = new FakeTimeProvider(Process.Start);
        await using var process = new Process(new ScriptedChannel(attempt => attempt.Delivery.Ensemble == "a" && attempt.Number == 1 ? Step.Retry : Step.Deliver, 1, 2), time,
            new InMemoryDeliveryStore(), [Process.Webhook("a", "a.test"), Process.Webhook("b", "b.test")],
            o => { o.MaxConcurrentPerEndpoint = 1; o.MaxConcurrentDeliveries = 2; o.MaxQueuedPerEndpoint = 1; o.BatchSize = 1; o.CircuitBreakerMinimumThroughput = 1000; o.LeaseDuration = TimeSpan.FromDays(1); });
        await process.StartWorkerAsync();
        var others = Task.Run(async () => (await Task.WhenAll(process.NotifyAsync("b", "y1"), process.NotifyAsync("b", "y2"))).SelectMany(x => x).ToList());
        var ordered = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ordered.AddRange(await process.NotifyAsync("a", "x" + i));
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        var ids = ordered.Concat(await others).ToList();
        await Invariants.SettleAsync(process, ids);
        await Invariants.CheckStoreAsync(process.Store, ids, _ => 2);
        var firsts = process.Channel.Started.Where(s => s.Number == 1 && s.Endpoint == "https://a.test").Select(s => s.Id).ToList();
        Specification.Assert(firsts.SequenceEqual(ordered), $"first attempts to a.test started in the order {string.Join(", ", firsts.Select(f => ordered.IndexOf(f)))}, stored 0, 1, 2");
    });

    [Fact]
    public void A_breaker_opens_under_load_and_closes_after_its_probe() => Explore(async () =>
    {
        // The endpoint fails its first four attempts, then recovers. With a breaker that opens after two attempts at half
        // failures, the endpoint is paused, one probe goes out after the break, and the backlog drains once it closes.
        var failures = 0;
        var channel = new ScriptedChannel(_ => Interlocked.Increment(ref failures) <= 4 ? Step.Retry : Step.Deliver, 2, 2);
        var time = new FakeTimeProvider(Process.Start);
        await using var process = new Process(channel, time, new InMemoryDeliveryStore(), [Process.Webhook("a", "a.test", retries: 5)],
            o => { o.MaxConcurrentPerEndpoint = 2; o.MaxConcurrentDeliveries = 2; o.CircuitBreakerMinimumThroughput = 2; o.CircuitBreakerFailureRatio = 0.5; o.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(30); o.LeaseDuration = TimeSpan.FromDays(1); });
        var opened = 0;
        var closed = 0;
        process.Isolation.Opened += (_, _) => Interlocked.Increment(ref opened);
        process.Isolation.Closed += _ => Interlocked.Increment(ref closed);
        await process.StartWorkerAsync();
        var ids = (await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => process.NotifyAsync("a", "x" + i))))).SelectMany(x => x).ToList();
        await Invariants.SettleAsync(process, ids);
        foreach (var id in ids)
        {
            var record = await process.Store.GetAsync(id);
            Specification.Assert(record!.Status == DeliveryStatus.Delivered, $"delivery {id} is {record.Status} after {record.Attempts} attempt(s)");
        }

        Specification.Assert(opened >= 1 && closed >= 1, $"the breaker opened {opened} and closed {closed} times");
        // While the breaker is open a due delivery waits for the break to end (30 s, up to three breaks: two failed probes).
        await Invariants.CheckStoreAsync(process.Store, ids, _ => 5, lateness: TimeSpan.FromSeconds(91));
    });
}
