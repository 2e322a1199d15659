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
