using System.Diagnostics;
using System.Globalization;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.DeliveryBenchmarks.Ensembles;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

/// <summary>
/// Issue #34 points 2 and 3: Notify at a steady rate for a while through the generated API, on the default SQLite store
/// and on PostgreSQL, with retention on (both retentions 10 s, pruned every 2 s) and, in the same run, off (Infinite).
/// Every 10 s it prints the process's RSS, its GC heap, the store's bytes on disk and the Notify p99 of those 10 s; at the
/// end, the store's size at the end over its size at half time, and the p99 with pruning over the p99 without.
///
///   dotnet run -c Release --project tests/Conductor.Sdk.DeliveryBenchmarks -- 1 64 1 --soak 120 2000 [--no-postgresql] [--only-pruning]
/// </summary>
internal static class Soak
{
    private sealed record Sample(int Second, long Rss, long GcHeap, long StoreBytes, double P99Ms, int Notified, long Delivered);

    public static async Task RunAsync(Uri receiver, string[] args, Func<int> received)
    {
        var at = Array.IndexOf(args, "--soak");
        var seconds = int.Parse(args[at + 1], CultureInfo.InvariantCulture);
        var rate = int.Parse(args[at + 2], CultureInfo.InvariantCulture);
        var withPostgres = !args.Contains("--no-postgresql");
        // --soak-rounds R: R runs of each mode, alternating (on, off, on, off, ...); the p99 ratio is of the medians.
        var rounds = args.SkipWhile(a => a != "--soak-rounds").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(1);
        var modes = Enumerable.Repeat(args.Contains("--only-pruning") ? new[] { true } : new[] { true, false }, rounds).SelectMany(m => m).ToArray();
        Console.WriteLine($"Soak: {rate} Notify/s for {seconds} s per run; retention 10 s (pruned every 2 s) against Infinite; samples every 10 s");
        Conductor.Sdk.Tests.Infrastructure.PostgreSqlCluster? cluster = null;
        if (withPostgres)
        {
            cluster = new Conductor.Sdk.Tests.Infrastructure.PostgreSqlCluster();
            await cluster.InitializeAsync();
        }

        var results = new List<(string Store, bool Pruning, List<Sample> Samples, double P99)>();
        try
        {
            foreach (var store in withPostgres ? new[] { "sqlite", "postgresql" } : new[] { "sqlite" })
            {
                foreach (var pruning in modes)
                {
                    var (samples, p99) = await RunOnceAsync(receiver, store == "postgresql" ? cluster!.CreateDatabase() : null, pruning, seconds, rate, received);
                    results.Add((store, pruning, samples, p99));
                }
            }
        }
        finally
        {
            if (cluster is not null) await cluster.DisposeAsync();
        }

        Console.WriteLine();
        Console.WriteLine("| store | retention | size at half time | size at end | end ÷ half | RSS at end | GC heap at end | Notify p99 (whole run) |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (store, pruning, samples, p99) in results)
        {
            var half = samples.First(s => s.Second >= seconds / 2);
            var end = samples[^1];
            Console.WriteLine($"| {store} | {(pruning ? "10 s" : "Infinite")} | {Mb(half.StoreBytes)} | {Mb(end.StoreBytes)} | {(double)end.StoreBytes / half.StoreBytes:0.00} | {Mb(end.Rss)} | {Mb(end.GcHeap)} | {p99:0.00} ms |");
        }

        foreach (var store in results.Select(r => r.Store).Distinct())
        {
            var on = results.Where(r => r.Store == store && r.Pruning).Select(r => r.P99).Order().ToList();
            var off = results.Where(r => r.Store == store && !r.Pruning).Select(r => r.P99).Order().ToList();
            if (off.Count > 0)
            {
                Console.WriteLine($"{store}: Notify p99 with pruning {string.Join(" ", on.Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)))} ms, " +
                    $"without {string.Join(" ", off.Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)))} ms; median with ÷ median without = {on[on.Count / 2] / off[off.Count / 2]:0.00}");
            }
        }
    }

    private static async Task<(List<Sample> Samples, double P99)> RunOnceAsync(Uri receiver, string? postgres, bool pruning, int seconds, int rate, Func<int> received)
    {
        var root = Path.Combine(Path.GetTempPath(), "conductor-soak-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var retention = pruning ? TimeSpan.FromSeconds(10) : Conductor.Sdk.ConductorRetentionOptions.Infinite;
        using var host = DurableBenchmark.BuildHost(receiver, 64, root, conductor =>
        {
            if (postgres is not null) conductor.UsePostgreSql(postgres);
            conductor.Services.PostConfigure<Conductor.Sdk.ConductorOptions>(o =>
            {
                o.Retention.Delivered = retention;
                o.Retention.DeadLettered = retention;
                o.Retention.PruneInterval = TimeSpan.FromSeconds(2);
            });
        });
        await host.StartAsync();
        var store = (IPruningDeliveryStore)host.Services.GetRequiredService<IDeliveryStore>();
        var ensemble = host.Services.GetRequiredService<BenchOrdersEnsemble>();
        // Warm-up, not measured: 20 s at the same rate, so that tiered JIT has settled and, with retention on, the
        // pruner is already deleting what expires (the steady state) when the measured run starts.
        await DurableBenchmark.NotifyPaced(ensemble, 20 * rate, rate, "warm-" + Guid.NewGuid().ToString("N")[..8]);
        var output = new BenchOrdersEnsemble.Output { TrackingNumber = "1Z-0000000000" };
        var duration = TimeSpan.FromMilliseconds(1234);
        // The live heap after a full collection, before and after the measured run: what the process really keeps (the
        // GC heap sampled every 10 s also holds garbage that waits for the next gen2 collection).
        var total = seconds * rate;
        var latencies = new double[total];
        var liveBefore = GC.GetTotalMemory(forceFullCollection: true);
        var gen2Before = GC.CollectionCount(2);
        var prefix = (pruning ? "on-" : "off-") + Guid.NewGuid().ToString("N")[..8];
        var startReceived = received();
        var clock = Stopwatch.StartNew();
        var next = -1;
        var notified = 0;
        // Open loop: call i is made at i / rate seconds, whatever the latency of the calls before it.
        var callers = Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var due = TimeSpan.FromSeconds((double)i / rate);
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                var start = Stopwatch.GetTimestamp();
                await ensemble.Notify.ExecutionCompletedAsync(prefix + "-" + i.ToString("D9", CultureInfo.InvariantCulture), output, duration);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                Interlocked.Increment(ref notified);
            }
        }));

        var samples = new List<Sample>();
        var label = $"{(postgres is null ? "sqlite" : "postgresql")}, retention {(pruning ? "10 s" : "Infinite")}";
        Console.WriteLine($"-- {label}");
        Console.WriteLine("  t (s) | RSS MB | GC heap MB | store MB | Notify p99 ms (last 10 s) | notified | delivered");
        for (var second = 10; second <= seconds; second += 10)
        {
            var wait = TimeSpan.FromSeconds(second) - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            var from = Math.Max(0, (second - 10) * rate);
            var to = Math.Min(total, Volatile.Read(ref notified));
            var window = latencies[from..Math.Max(from, Math.Min(to, second * rate))].Where(l => l > 0).ToArray();
            Array.Sort(window);
            var process = Process.GetCurrentProcess();
            var sample = new Sample(second, process.WorkingSet64, GC.GetGCMemoryInfo().HeapSizeBytes, await store.SizeAsync(),
                window.Length == 0 ? double.NaN : window[Math.Min(window.Length - 1, (int)(0.99 * window.Length))], to, received() - startReceived);
            samples.Add(sample);
            Console.WriteLine($"  {second,5} | {Mb(sample.Rss),6} | {Mb(sample.GcHeap),10} | {Mb(sample.StoreBytes),8} | {sample.P99Ms,25:0.00} | {sample.Notified,8} | {sample.Delivered,9}");
        }

        await callers;
        var gen2 = GC.CollectionCount(2) - gen2Before;
        var liveAfter = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"  live heap after a full GC: {Mb(liveBefore)} MB before the run, {Mb(liveAfter)} MB after; {gen2} gen2 collections during the run");
        var all = latencies.ToArray();
        Array.Sort(all);
        await host.StopAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }

        return (samples, all[(int)(0.99 * all.Length)]);
    }

    private static string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0.0", CultureInfo.InvariantCulture);
}
