using System.Diagnostics;
using System.Globalization;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.DeliveryBenchmarks.Ensembles;
using Conductor.Sdk.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>
/// Issue #18: the durable stores the way applications run them, against the bare signed loop, in the same process
/// and run. Each store runs in a host built with <c>AddConductor().AddEnsembles()</c>, kept for the whole run as an
/// application keeps it (<c>--fresh-host</c>: one per round):
/// <list type="bullet">
/// <item><description>SQLite is the default store (no store call), in a fresh content root;</description></item>
/// <item><description>PostgreSQL is <c>UsePostgreSql</c> on a cluster this harness starts (as the tests do).</description></item>
/// </list>
/// The host is started and warmed up; in each round <c>senders</c> concurrent callers send N events through the generated
/// <c>BenchOrdersEnsemble.Notify.ExecutionCompletedAsync</c>. A round ends when the loopback receiver has counted N
/// deliveries. Reported: deliveries/s, the latency of <c>Notify</c> (p50 and p99: the time until the deliveries are
/// stored) and the process's CPU time per delivery, the receiver's included, as for the bare loop.
/// </summary>
internal sealed class DurableBenchmark(Uri receiver, int senders, Func<int> received, Action resetReceived) : IAsyncDisposable
{
    /// <summary>One round: deliveries/s, Notify latency, CPU per delivery, and how fast the Notify calls themselves returned (all N of them).</summary>
    public sealed record Round(double PerSecond, double NotifyP50Micros, double NotifyP99Micros, double CpuMicrosPerDelivery, double NotifyPerSecond = double.NaN)
    {
        /// <summary>Notify p99 over the first and the last third of the calls (in start order): while the backlog grows, these must not.</summary>
        public (double First, double Last) NotifyP99Thirds { get; init; } = (double.NaN, double.NaN);

        /// <summary>Deliveries waiting in the store when the last Notify returned (the backlog a slow receiver leaves).</summary>
        public int BacklogAfterNotify { get; init; }
    }

    /// <summary>One round of the bare loop (<paramref name="bare"/>), with its CPU time per delivery.</summary>
    public static async Task<Round> MeasureBare(int count, Func<int, Task<Result>> bare)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var result = await bare(count);
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return new Round(result.PerSecond, double.NaN, double.NaN, used.TotalMicroseconds / count);
    }

    /// <summary>
    /// The application of each store, kept for the whole run (warm-up rounds included), as an application is:
    /// built on its first round, stopped by <see cref="DisposeAsync"/>. With <c>freshHost</c>, each round builds
    /// and stops its own (the harness's first method: JIT, DI resolvers and connections paid inside every round).
    /// </summary>
    private readonly Dictionary<string, (IHost Host, string Root)> _hosts = [];

    /// <summary>Builds a host per round instead of one per store for the run (<c>--fresh-host</c>).</summary>
    public bool FreshHost { get; init; }

    /// <summary>Hosts built with the defaults an application gets (configuration files watched for reload; <c>--host-defaults</c>).</summary>
    public bool HostDefaults { get; init; }

    /// <summary>Notify callers, when not the same number as the senders toward the receiver (<c>--callers K</c>, diagnostic).</summary>
    public int? Callers { get; init; }

    /// <summary>Prints each round's GC, allocation and CPU figures (<c>--verbose</c>).</summary>
    public bool Verbose { get; init; }

    /// <summary>
    /// Everything but the HTTP exchange (<c>--noop-channel</c>, diagnostic): the webhook channel is replaced by one that
    /// succeeds at once, and a round ends when every attempt is recorded instead of received.
    /// </summary>
    public bool NoopChannel { get; init; }

    private int _recorded;

    private int Received() => NoopChannel ? Volatile.Read(ref _recorded) : received();

    private void ResetReceived()
    {
        if (NoopChannel) Volatile.Write(ref _recorded, 0);
        else resetReceived();
    }

    /// <summary>
    /// One round through the generated Notify API: SQLite by default, or PostgreSQL at <paramref name="postgres"/>.
    /// Delivered rows of earlier rounds are purged before the clock starts, through the store's own retention call.
    /// </summary>
    public async Task<Round> MeasureStore(int count, string? postgres, bool inMemory = false)
    {
        var key = inMemory ? "memory" : postgres is null ? "sqlite" : "postgresql";
        if (FreshHost || !_hosts.TryGetValue(key, out var app))
        {
            var root = Path.Combine(Path.GetTempPath(), "conductor-durable-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(root);
            var built = BuildHost(receiver, senders, root, conductor =>
            {
                if (postgres is not null) conductor.UsePostgreSql(postgres);
                if (inMemory) conductor.UseInMemoryStore();
            }, HostDefaults, NoopChannel);
            if (NoopChannel) built.Services.GetRequiredService<DeliveryProcessor>().AttemptRecorded += _ => Interlocked.Increment(ref _recorded);
            await built.StartAsync();
            app = (built, root);
            await Send(built.Services.GetRequiredService<BenchOrdersEnsemble>(), Math.Min(count, 2_000), "warm-" + Guid.NewGuid().ToString("N"));
            if (!FreshHost) _hosts[key] = app;
        }

        try
        {
            await app.Host.Services.GetRequiredService<IDeliveryStore>().PurgeAsync(DateTimeOffset.UtcNow.AddMinutes(1), DeliveryStatus.Delivered);
            var ensemble = app.Host.Services.GetRequiredService<BenchOrdersEnsemble>();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var gc = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes(precise: true));
            var workItems = ThreadPool.CompletedWorkItemCount;
            var switches = Verbose ? ProcessCounters.SwitchesByName() : [];
            var machine = Verbose ? DurableProcesses.MachineCpu() : default;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var (latencies, notified, backlog) = await Send(ensemble, count, "run-" + Guid.NewGuid().ToString("N"));
            var elapsed = clock.Elapsed;
            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            if (Verbose)
            {
                var info = GC.GetGCMemoryInfo(GCKind.Any);
                Console.WriteLine($"  {key}: {count / elapsed.TotalSeconds:N0}/s, CPU {used.TotalMicroseconds / count:0.0} µs/delivery, allocated {(GC.GetTotalAllocatedBytes(precise: true) - gc.Item5) / count:N0} B/delivery, GCs {GC.CollectionCount(0) - gc.Item1}/{GC.CollectionCount(1) - gc.Item2}/{GC.CollectionCount(2) - gc.Item3}, paused {(GC.GetTotalPauseDuration() - gc.Item4).TotalMilliseconds:N0} ms, last GC gen{info.Generation} promoted {info.PromotedBytes / 1024:N0} KB, gen0 budget ~{info.GenerationInfo[0].SizeBeforeBytes / 1024 / 1024:N0} MB; lock contentions {Monitor.LockContentionCount:N0} so far");
                // The whole machine (a PostgreSQL server's processes included), in clock ticks of 10 ms (USER_HZ = 100).
                var after = DurableProcesses.MachineCpu();
                var busyTicks = after.Total - machine.Total - (after.Idle - machine.Idle);
                Console.WriteLine($"  {key}: machine CPU {busyTicks * 10_000.0 / count:0.0} µs/delivery, {(double)busyTicks / Math.Max(1, after.Total - machine.Total):P0} busy (this process {used.TotalMicroseconds / count:0.0} µs)");
                Console.WriteLine($"  {key}: thread-pool work items {(double)(ThreadPool.CompletedWorkItemCount - workItems) / count:0.00}/delivery, {ProcessCounters.SwitchesPerDelivery(switches, count, top: 5)}");

                // Notify p99 by tenth of the calls (in start order): the curve of latency against the backlog.
                var tenths = Enumerable.Range(0, 10).Select(t =>
                {
                    var slice = latencies[(t * count / 10)..((t + 1) * count / 10)];
                    Array.Sort(slice);
                    return (Percentile(slice, 0.99) / 1000).ToString("0.0", CultureInfo.InvariantCulture);
                });
                Console.WriteLine($"  {key}: Notify p99 by tenth of the calls, ms: {string.Join(" ", tenths)}");
            }

            var third = count / 3;
            var first = latencies[..third];
            var last = latencies[^third..];
            Array.Sort(first);
            Array.Sort(last);
            Array.Sort(latencies);
            return new Round(count / elapsed.TotalSeconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99), used.TotalMicroseconds / count, count / notified.TotalSeconds)
            {
                NotifyP99Thirds = (Percentile(first, 0.99), Percentile(last, 0.99)),
                BacklogAfterNotify = backlog,
            };
        }
        finally
        {
            if (FreshHost) await StopAsync(app);
        }
    }

    /// <summary>Stops the hosts kept for the run and deletes their content roots.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var app in _hosts.Values) await StopAsync(app);
        _hosts.Clear();
    }

    private static async Task StopAsync((IHost Host, string Root) app)
    {
        await app.Host.StopAsync();
        app.Host.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(app.Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Sends <paramref name="count"/> events from <c>senders</c> callers and waits until the receiver has them all; returns each Notify's latency in µs.</summary>
    private async Task<(double[] Latencies, TimeSpan Notified, int Backlog)> Send(BenchOrdersEnsemble ensemble, int count, string prefix)
    {
        var clock = Stopwatch.StartNew();
        ResetReceived();
        var latencies = await NotifyAll(ensemble, count, prefix, Callers ?? senders);
        var notified = clock.Elapsed;
        var backlog = count - Received();

        // Deliveries leave in the background: the round ends when the receiver has counted every one.
        var deadline = Stopwatch.StartNew();
        while (Received() < count)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"only {Received()} of {count} deliveries arrived within 5 minutes");
            await Task.Delay(1);
        }

        return (latencies, notified, backlog);
    }

    /// <summary>
    /// A host as an application builds it: <c>AddConductor().AddEnsembles()</c>, the receiver allowed, the same
    /// concurrency toward it as the bare loop has; <paramref name="store"/> picks the store (nothing: the default SQLite).
    /// </summary>
    internal static IHost BuildHost(Uri receiver, int senders, string contentRoot, Action<ConductorBuilder> store, bool hostDefaults = false, bool noopChannel = false)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = contentRoot, DisableDefaults = !hostDefaults });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["BENCH_RECEIVER"] = receiver.GetLeftPart(UriPartial.Authority),
            ["BENCH_WEBHOOK_SECRET"] = "bench-secret",
        });
        store(builder.Services.AddConductor(o =>
        {
            o.AllowedNetworks.Add("127.0.0.1/32");
            o.MaxConcurrentPerEndpoint = senders;
            o.MaxConcurrentDeliveries = senders;
        }).AddEnsembles());
        // The last registration of a channel wins.
        if (noopChannel) builder.Services.AddSingleton<Conductor.Sdk.Channels.INotificationChannel, NoopChannel>();
        return builder.Build();
    }

    /// <summary><paramref name="count"/> events through the generated Notify from <paramref name="senders"/> callers; each call's latency in µs.</summary>
    internal static async Task<double[]> NotifyAll(BenchOrdersEnsemble ensemble, int count, string prefix, int senders)
    {
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
        return latencies;
    }

    /// <summary><paramref name="count"/> calls of the generated Notify at <paramref name="rate"/> per second (open loop).</summary>
    internal static async Task NotifyPaced(BenchOrdersEnsemble ensemble, int count, int rate, string prefix)
    {
        var output = new BenchOrdersEnsemble.Output { TrackingNumber = "1Z-0000000000" };
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var wait = TimeSpan.FromSeconds((double)i / rate) - clock.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                await ensemble.Notify.ExecutionCompletedAsync(prefix + "-" + i.ToString("D9", CultureInfo.InvariantCulture), output, TimeSpan.FromMilliseconds(1234));
            }
        }));
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}

/// <summary>
/// Issue #18 point 3: several processes sharing one PostgreSQL database, each an application instance with its own
/// host, Notify callers and delivery worker. The parent starts them (this same program with <c>--durable-child</c>),
/// waits until each has warmed up, says "go" to all at once and measures until its receiver has every delivery.
/// The receiver checks that no delivery id is in flight twice at the same time (two processes attempting one
/// delivery) and counts the ids it saw more than once.
/// </summary>
internal static class DurableProcesses
{
    /// <summary>The child: warm up, report READY, send <paramref name="count"/> events on "go", report NOTIFIED, stop on "stop".</summary>
    public static async Task ChildAsync(Uri receiver, string postgres, int count, string prefix, int senders)
    {
        using var host = DurableBenchmark.BuildHost(receiver, senders, Path.GetTempPath(), conductor => conductor.UsePostgreSql(postgres));
        await host.StartAsync();
        var ensemble = host.Services.GetRequiredService<BenchOrdersEnsemble>();
        Task Send(int n, string id) => DurableBenchmark.NotifyAll(ensemble, n, id, senders);

        await Send(1_000, prefix + "-warm");
        Console.WriteLine("READY");
        if (Console.ReadLine() != "go") return;
        await Send(count, prefix);
        Console.WriteLine("NOTIFIED");
        Console.ReadLine(); // "stop" (or the parent closing the pipe)
        await host.StopAsync();
    }

    /// <summary>The parent side: runs <paramref name="processes"/> children on a fresh database; returns deliveries/s.</summary>
    public static async Task<(double PerSecond, double MachineBusy)> RunAsync(int processes, int count, Uri receiver, string postgres, int senders, Func<int> received, Action resetReceived)
    {
        var children = new List<Process>();
        try
        {
            for (var p = 0; p < processes; p++)
            {
                var self = Environment.ProcessPath!;
                var dll = typeof(DurableProcesses).Assembly.Location;
                var arguments = $"--durable-child {receiver} \"{postgres}\" {count / processes} p{p} {senders}";
                var start = new ProcessStartInfo(self, Path.GetFileNameWithoutExtension(self) == "dotnet" ? $"\"{dll}\" {arguments}" : arguments)
                {
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    UseShellExecute = false,
                };
                children.Add(Process.Start(start)!);
            }

            foreach (var child in children)
            {
                var line = await child.StandardOutput.ReadLineAsync();
                if (line != "READY") throw new InvalidOperationException($"a child process did not start: {line ?? "(exited)"}");
            }

            // Warm-up deliveries are in flight from every child: wait for them, then count afresh.
            await WaitFor(() => received() >= processes * 1_000);
            resetReceived();
            var cpu = MachineCpu();
            var clock = Stopwatch.StartNew();
            foreach (var child in children) await child.StandardInput.WriteLineAsync("go");
            var expected = count / processes * processes;
            await WaitFor(() => received() >= expected);
            var elapsed = clock.Elapsed;
            var after = MachineCpu();
            var busy = after.Total == cpu.Total ? 0 : 1 - ((double)(after.Idle - cpu.Idle) / (after.Total - cpu.Total));
            return (expected / elapsed.TotalSeconds, busy);
        }
        finally
        {
            foreach (var child in children)
            {
                try
                {
                    await child.StandardInput.WriteLineAsync("stop");
                    child.StandardInput.Close();
                    if (!child.WaitForExit(TimeSpan.FromSeconds(30))) child.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                catch (IOException)
                {
                }

                child.Dispose();
            }
        }
    }

    /// <summary>The machine's CPU time counters from /proc/stat (every process: PostgreSQL, the children, this receiver).</summary>
    internal static (long Total, long Idle) MachineCpu()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        return (fields.Sum(), fields[3] + (fields.Length > 4 ? fields[4] : 0));
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("the deliveries did not all arrive within 5 minutes");
            await Task.Delay(1);
        }
    }
}
