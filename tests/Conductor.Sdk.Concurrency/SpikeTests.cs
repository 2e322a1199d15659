using Microsoft.Coyote;
using Microsoft.Coyote.SystematicTesting;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Sdk.Concurrency;

public sealed class SpikeTests
{
    private static void Run(Func<Task> test)
    {
        using var engine = TestingEngine.Create(Configuration.Create().WithTestingIterations(20), test);
        engine.Run();
        Assert.True(engine.TestReport.NumOfFoundBugs == 0, string.Join("\n", engine.TestReport.BugReports));
    }

    [Fact]
    public void Semaphore_wakes_a_waiter() => Run(async () =>
    {
        var signal = new Conductor.Sdk.Delivery.DeliverySignal();
        var woke = false;
        var waiter = Task.Run(async () => { await signal.WaitAsync(CancellationToken.None); woke = true; });
        await Task.Delay(1);
        signal.Notify();
        await waiter;
        Microsoft.Coyote.Specifications.Specification.Assert(woke, "not woken");
    });

    [Fact]
    public void Semaphore_wakes_a_waiter_with_a_token() => Run(async () =>
    {
        var signal = new Conductor.Sdk.Delivery.DeliverySignal();
        using var cts = new CancellationTokenSource();
        var woke = false;
        var waiter = Task.Run(async () => { await signal.WaitAsync(cts.Token).ConfigureAwait(false); woke = true; });
        await Task.Delay(1);
        signal.Notify();
        await waiter;
        Microsoft.Coyote.Specifications.Specification.Assert(woke, "not woken");
    });

    [Fact]
    public void Looping_waiter_is_woken_by_a_fake_timer_each_time() => Run(async () =>
    {
        Conductor.Sdk.Delivery.ControlledScheduling.Enabled = true;
        var time = new FakeTimeProvider();
        var signal = new Conductor.Sdk.Delivery.DeliverySignal();
        using var cts = new CancellationTokenSource();
        var rounds = 0;
        using var timer = time.CreateTimer(_ => signal.Notify(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        var loop = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested)
            {
                Interlocked.Increment(ref rounds);
                try { await signal.WaitAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        });
        for (var i = 0; i < 20; i++)
        {
            await Task.Delay(1);
            time.Advance(TimeSpan.FromSeconds(1));
        }
        for (var i = 0; i < 50 && Volatile.Read(ref rounds) < 5; i++) await Task.Delay(1);
        var seen = Volatile.Read(ref rounds);
        cts.Cancel();
        signal.Notify();
        await loop;
        Microsoft.Coyote.Specifications.Specification.Assert(seen >= 5, $"only {seen} rounds");
    });

    [Fact]
    public void Fake_timer_wakes_a_waiter() => Run(async () =>
    {
        var time = new FakeTimeProvider();
        var signal = new Conductor.Sdk.Delivery.DeliverySignal();
        using var timer = time.CreateTimer(_ => signal.Notify(), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        var waiter = Task.Run(async () => await signal.WaitAsync(CancellationToken.None));
        await Task.Delay(1);
        time.Advance(TimeSpan.FromSeconds(2));
        await waiter;
    });
}
