using System.Diagnostics;
using System.Globalization;
using Conductor.Sdk.DeliveryBenchmarks.Ensembles;
using Conductor.Sdk.DependencyInjection;
using Conductor.Sdk.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>
/// Issue #18: the durable stores the way applications run them, against the bare signed loop, in the same process
/// and run. Each round of a store starts a host with <c>AddConductor().AddEnsembles()</c>:
/// <list type="bullet">
/// <item><description>SQLite is the default store (no store call), in a fresh content root;</description></item>
/// <item><description>PostgreSQL is <c>UsePostgreSql</c> on a cluster this harness starts (as the tests do).</description></item>
/// </list>
/// The host is started and warmed up, and then <c>senders</c> concurrent callers send N events through the generated
/// <c>BenchOrdersEnsemble.Notify.ExecutionCompletedAsync</c>. A round ends when the loopback receiver has counted N
/// deliveries. Reported: deliveries/s, the latency of <c>Notify</c> (p50 and p99: the time until the deliveries are
/// stored) and the process's CPU time per delivery, the receiver's included, as for the bare loop.
/// </summary>
internal sealed class DurableBenchmark(Uri receiver, int senders, Func<int> received, Action resetReceived)
{
    /// <summary>One round: deliveries/s, Notify latency, CPU per delivery, and how fast the Notify calls themselves returned (all N of them).</summary>
    public sealed record Round(double PerSecond, double NotifyP50Micros, double NotifyP99Micros, double CpuMicrosPerDelivery, double NotifyPerSecond = double.NaN);

    /// <summary>One round of the bare loop (<paramref name="bare"/>), with its CPU time per delivery.</summary>
    public static async Task<Round> MeasureBare(int count, Func<int, Task<Result>> bare)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var result = await bare(count);
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return new Round(result.PerSecond, double.NaN, double.NaN, used.TotalMicroseconds / count);
    }

    /// <summary>One round through the generated Notify API on a fresh store: SQLite by default, or PostgreSQL at <paramref name="postgres"/>.</summary>
    public async Task<Round> MeasureStore(int count, string? postgres, bool inMemory = false)
    {
        var root = Path.Combine(Path.GetTempPath(), "conductor-durable-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root, DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["BENCH_RECEIVER"] = receiver.GetLeftPart(UriPartial.Authority),
            ["BENCH_WEBHOOK_SECRET"] = "bench-secret",
        });
        var conductor = builder.Services.AddConductor(o =>
        {
            o.AllowedNetworks.Add("127.0.0.1/32");
            // The same concurrency toward the receiver as the bare loop has.
            o.MaxConcurrentPerEndpoint = senders;
            o.MaxConcurrentDeliveries = senders;
        }).AddEnsembles();
        if (postgres is not null) conductor.UsePostgreSql(postgres);
        if (inMemory) Conductor.Sdk.Sqlite.SqliteConductorBuilderExtensions.UseInMemoryStore(conductor);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var ensemble = host.Services.GetRequiredService<BenchOrdersEnsemble>();
            await Send(ensemble, Math.Min(count, 2_000), "warm");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var (latencies, notified) = await Send(ensemble, count, "run");
            var elapsed = clock.Elapsed;
            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            Array.Sort(latencies);
            return new Round(count / elapsed.TotalSeconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99), used.TotalMicroseconds / count, count / notified.TotalSeconds);
        }
        finally
        {
            await host.StopAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Sends <paramref name="count"/> events from <c>senders</c> callers and waits until the receiver has them all; returns each Notify's latency in µs.</summary>
    private async Task<(double[] Latencies, TimeSpan Notified)> Send(BenchOrdersEnsemble ensemble, int count, string prefix)
    {
        var clock = Stopwatch.StartNew();
        resetReceived();
        var latencies = new double[count];
        var output = new BenchOrdersEnsemble.Output { TrackingNumber = "1Z-0000000000" };
        var duration = TimeSpan.FromMilliseconds(1234);
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, senders).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var start = Stopwatch.GetTimestamp();
                await ensemble.Notify.ExecutionCompletedAsync(prefix + "-" + i.ToString("D10", CultureInfo.InvariantCulture), output, duration);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }));

        var notified = clock.Elapsed;

        // Deliveries leave in the background: the round ends when the receiver has counted every one.
        var deadline = Stopwatch.StartNew();
        while (received() < count)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"only {received()} of {count} deliveries arrived within 5 minutes");
            await Task.Delay(1);
        }

        return (latencies, notified);
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
