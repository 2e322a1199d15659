using Conductor.Sdk.Delivery;
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
    private void Explore(Func<Task> scenario, uint? seed = null)
    {
        // The seam: the attempt path uses the standard builder and Task.Run, which Coyote controls (ControlledScheduling).
        ControlledScheduling.Enabled = true;
        if (Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_PLAIN") == "1")
        {
            scenario().GetAwaiter().GetResult();
            return;
        }

        var configuration = Configuration.Create()
            .WithTestingIterations((uint)Iterations)
            .WithMaxSchedulingSteps(20_000)
            .WithPartiallyControlledConcurrencyAllowed(false).WithSystematicFuzzingFallbackEnabled(false).WithUncontrolledInvocationStackTraceLoggingEnabled(true).WithNoBugTraceRepro()
            .WithPotentialDeadlocksReportedAsBugs(true)
            .WithDeadlockTimeout(30000);
        if ((seed ?? (uint.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_SEED"), out var s) ? s : null)) is { } fixedSeed)
        {
            configuration = configuration.WithRandomGeneratorSeed(fixedSeed).WithTestingIterations(1);
        }

        if (Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_TRACE") is { Length: > 0 } tracePath)
        {
            configuration = configuration.WithVerbosityEnabled(VerbosityLevel.Exhaustive).WithConsoleLoggingEnabled(true);
        }

        using var engine = TestingEngine.Create(configuration, scenario);
        engine.Run();
        if (Environment.GetEnvironmentVariable("CONDUCTOR_COYOTE_TRACE") is { Length: > 0 } trace) File.WriteAllText(trace, engine.ReadableTrace);
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
}
