using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.DeliveryBenchmarks.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>
/// Issue #35 point 1: a dead endpoint (<c>refused</c>: nothing listens; <c>blackhole</c>: it accepts connections and
/// never answers) with N stored deliveries, beside the healthy endpoint of the same app. Each round builds a fresh host
/// with the default options (as a new user has them) on a fresh store, seeds the dead endpoint's backlog (0 for the
/// baseline, N otherwise) as an outage leaves it (pending, due), starts the host, lets the dead endpoint fail for 15 s
/// (its breaker opens), then makes M Notify calls through the generated API with 64 callers and measures the healthy
/// endpoint: Notify p50/p99, Notify calls/s, and the time until the receiver got all M. Each round runs both, in
/// alternating order (without then with, then with then without, ...); the report gives medians and the with ÷ without
/// ratios, the process CPU, and the process's memory.
///
///   dotnet run -c Release --project tests/Conductor.Sdk.DeliveryBenchmarks -- 20000 64 2 --isolation 100000 blackhole [--no-postgresql] [--no-sqlite]
///
/// Issue #35 point 4: a 50/s rate limit beside an unthrottled endpoint, for 60 s.
///
///   dotnet run -c Release --project tests/Conductor.Sdk.DeliveryBenchmarks -- 1 64 1 --rate-limit 50 60
/// </summary>
internal static class Isolation
{
    private sealed record Round(bool Backlog, double P50, double P99, double CallsPerSecond, double ArriveSeconds, long Rss, long Heap, double CpuSeconds);

    public static async Task RunAsync(Uri receiver, string[] args, int calls, int rounds, Func<int> received)
    {
        var at = Array.IndexOf(args, "--isolation");
        var backlog = int.Parse(args[at + 1], CultureInfo.InvariantCulture);
        var mode = args[at + 2];
        if (mode is not ("refused" or "blackhole")) throw new ArgumentException("--isolation N refused|blackhole");
        using var dead = DeadEndpoint.Start(mode);
        Console.WriteLine($"Isolation: dead endpoint {dead.Url} ({mode}) with a backlog of {backlog:N0} against none; {calls:N0} Notify calls to the healthy endpoint per round; {rounds} round(s) of each");
        var stores = new List<string>();
        if (!args.Contains("--no-sqlite")) stores.Add("sqlite");
        if (!args.Contains("--no-postgresql")) stores.Add("postgresql");
        Conductor.Sdk.Tests.Infrastructure.PostgreSqlCluster? cluster = null;
        if (stores.Contains("postgresql"))
        {
            cluster = new Conductor.Sdk.Tests.Infrastructure.PostgreSqlCluster();
            await cluster.InitializeAsync();
        }

        try
        {
            foreach (var store in stores)
            {
                var results = new List<Round>();
                for (var round = 0; round < rounds; round++)
                {
                    // The order alternates (without, with; with, without; ...), so that neither side always runs first in a process.
                    foreach (var withBacklog in round % 2 == 0 ? new[] { false, true } : new[] { true, false })
                    {
                        var result = await RunOnceAsync(receiver, dead.Url, store == "postgresql" ? cluster!.CreateDatabase() : null, withBacklog ? backlog : 0, calls, received);
                        results.Add(result);
                        Console.WriteLine($"  {store}, backlog {(withBacklog ? backlog : 0):N0}: Notify p50 {result.P50:0.00} ms, p99 {result.P99:0.00} ms, {result.CallsPerSecond:N0} calls/s, all arrived in {result.ArriveSeconds:0.00} s; RSS {result.Rss / 1048576} MB, GC heap {result.Heap / 1048576} MB");
                    }
                }

                double Median(bool withBacklog, Func<Round, double> value)
                {
                    var sorted = results.Where(r => r.Backlog == withBacklog).Select(value).Order().ToList();
                    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
                }

                Console.WriteLine();
                Console.WriteLine($"| {store}, {mode}, N = {backlog:N0} | without backlog | with backlog | with ÷ without |");
                Console.WriteLine("|---|---:|---:|---:|");
                foreach (var (name, value, unit) in new (string, Func<Round, double>, string)[]
                {
                    ("Notify p50", r => r.P50, " ms"), ("Notify p99", r => r.P99, " ms"), ("Notify calls/s", r => r.CallsPerSecond, ""),
                    ("time until all arrived", r => r.ArriveSeconds, " s"), ("process CPU until all arrived", r => r.CpuSeconds, " s"),
                    ("RSS at end", r => r.Rss / 1048576.0, " MB"), ("GC heap at end", r => r.Heap / 1048576.0, " MB"),
                })
                {
                    var without = Median(false, value);
                    var with = Median(true, value);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {without:0.00}{unit} | {with:0.00}{unit} | {with / without:0.00} |"));
                }

                Console.WriteLine();
            }
        }
        finally
        {
            if (cluster is not null) await cluster.DisposeAsync();
        }
    }

    private static async Task<Round> RunOnceAsync(Uri receiver, Uri deadUrl, string? postgres, int backlog, int calls, Func<int> received)
    {
        var root = Path.Combine(Path.GetTempPath(), "conductor-isolation-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var deadNotification = new WebhookNotificationDefinition("dead-receiver", 0, new[] { EventNames.ExecutionCompleted }, deadUrl, new[] { "dead-secret" }, retries: 5, TimeSpan.FromSeconds(5));
        using var host = BuildHost(receiver, root, conductor =>
        {
            if (postgres is not null) conductor.UsePostgreSql(postgres);
            conductor.AddNotification(deadNotification);
        });
        // The backlog an outage leaves: pending deliveries of the dead endpoint, due now, stored before the host starts.
        var store = host.Services.GetRequiredService<IDeliveryStore>();
        var endpoint = deadNotification.Endpoint;
        var payload = EventPayload.Serialize(new ExecutionCompleted(DateTimeOffset.UtcNow, "dead-receiver", "exec-backlog", null, 1));
        var seeded = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        const int Batch = 5_000;
        for (var i = 0; i < backlog; i += Batch)
        {
            var records = new List<DeliveryRecord>(Batch);
            for (var j = i; j < Math.Min(backlog, i + Batch); j++)
            {
                records.Add(new DeliveryRecord(DeliveryRecord.NewId(TimeProvider.System), "dead-receiver", EventNames.ExecutionCompleted, deadNotification.Key, "webhook", endpoint, payload,
                    now, now, DeliveryStatus.Pending, 0, 6));
            }

            await store.EnqueueAsync(records);
        }

        if (backlog > 0) Console.WriteLine($"    seeded {backlog:N0} in {seeded.Elapsed.TotalSeconds:0.0} s");
        if (postgres is not null && backlog > 0)
        {
            // An outage builds its backlog over hours, and autovacuum analyzes the table as it grows; seeded in seconds, the
            // table would be planned with the statistics of an empty one for up to a minute (autovacuum_naptime). Analyze,
            // as autovacuum would have.
            await using var connection = new Npgsql.NpgsqlConnection(postgres);
            await connection.OpenAsync();
            await using var analyze = new Npgsql.NpgsqlCommand("ANALYZE conductor_deliveries", connection);
            await analyze.ExecuteNonQueryAsync();
        }
        await host.StartAsync();
        try
        {
            var ensemble = host.Services.GetRequiredService<BenchOrdersEnsemble>();
            var output = new BenchOrdersEnsemble.Output { TrackingNumber = "1Z-0000000000" };
            // Warm-up: JIT, and 15 s of the dead endpoint failing (its breaker opens, as in an outage that lasts).
            var warm = received();
            var clock0 = Stopwatch.StartNew();
            await DurableBenchmark.NotifyAll(ensemble, 2_000, "warm-" + Guid.NewGuid().ToString("N")[..8], 64);
            while (received() < warm + 2_000)
            {
                if (clock0.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"warm-up: only {received() - warm} of 2000 arrived");
                await Task.Delay(5);
            }
            await Task.Delay(TimeSpan.FromSeconds(15));
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var start = received();
            var clock = Stopwatch.StartNew();
            var latencies = await DurableBenchmark.NotifyAll(ensemble, calls, "run-" + Guid.NewGuid().ToString("N")[..8], 64);
            var notified = clock.Elapsed;
            while (received() < start + calls)
            {
                if (clock.Elapsed > TimeSpan.FromMinutes(5))
                {
                    var processor = host.Services.GetRequiredService<DeliveryProcessor>();
                    var pending = await store.ListAsync(new DeliveryQuery(Ensemble: "bench-orders", Status: DeliveryStatus.Pending, Limit: 5));
                    throw new TimeoutException($"only {received() - start} of {calls} arrived in 5 minutes; in flight {processor.InFlight}, busy [{string.Join(", ", processor.BusyEndpoints)}], " +
                        $"pending healthy: {string.Join("; ", pending.Select(p => $"{p.Id} due {p.DueAt:O} attempts {p.Attempts} {p.LastError}"))}");
                }
                await Task.Delay(1);
            }

            var arrived = clock.Elapsed;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            Array.Sort(latencies);
            GC.Collect();
            // NotifyAll measures in microseconds.
            return new Round(backlog > 0, latencies[latencies.Length / 2] / 1000, latencies[(int)(latencies.Length * 0.99)] / 1000, calls / notified.TotalSeconds, arrived.TotalSeconds,
                Environment.WorkingSet, GC.GetTotalMemory(false), cpu.TotalSeconds);
        }
        finally
        {
            await host.StopAsync();
            if (host.Services.GetRequiredService<IDeliveryStore>() is IAsyncDisposable disposable) await disposable.DisposeAsync();
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A host as a new user builds it: the default options (64 attempts at once, 8 per endpoint), the generated ensemble.</summary>
    private static IHost BuildHost(Uri receiver, string contentRoot, Action<ConductorBuilder> store)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = contentRoot, DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["BENCH_RECEIVER"] = receiver.GetLeftPart(UriPartial.Authority),
            ["BENCH_WEBHOOK_SECRET"] = "bench-secret",
        });
        store(builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).AddEnsembles());
        return builder.Build();
    }

    /// <summary>A receiver that is down: nothing listens on its port (refused), or it accepts and never answers (blackhole).</summary>
    private sealed class DeadEndpoint : IDisposable
    {
        private readonly TcpListener? _listener;
        private readonly List<Socket> _held = new();
        private readonly CancellationTokenSource _stop = new();

        private DeadEndpoint(Uri url, TcpListener? listener)
        {
            Url = url;
            _listener = listener;
        }

        public Uri Url { get; }

        public static DeadEndpoint Start(string mode)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var url = new Uri($"http://127.0.0.1:{port}/hooks");
            if (mode == "refused")
            {
                listener.Stop();
                return new DeadEndpoint(url, null);
            }

            var endpoint = new DeadEndpoint(url, listener);
            _ = Task.Run(async () =>
            {
                while (!endpoint._stop.IsCancellationRequested)
                {
                    try
                    {
                        var socket = await listener.AcceptSocketAsync(endpoint._stop.Token);
                        lock (endpoint._held) endpoint._held.Add(socket); // accepted, never read, never answered
                    }
                    catch (Exception) when (endpoint._stop.IsCancellationRequested)
                    {
                        return;
                    }
                }
            });
            return endpoint;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener?.Stop();
            lock (_held)
            {
                foreach (var socket in _held) socket.Dispose();
            }
        }
    }

    /// <summary>Issue #35 point 4: one endpoint limited to R/s beside an unthrottled one, Notify at twice R and 500/s, for S seconds.</summary>
    public static async Task RateLimitAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--rate-limit");
        var rate = int.Parse(args[at + 1], CultureInfo.InvariantCulture);
        var seconds = int.Parse(args[at + 2], CultureInfo.InvariantCulture);
        var limitedTimes = new System.Collections.Concurrent.ConcurrentQueue<long>();
        var free = 0;
        await using var limited = await ReceiverAsync(() => limitedTimes.Enqueue(Stopwatch.GetTimestamp()));
        await using var unthrottled = await ReceiverAsync(() => Interlocked.Increment(ref free));
        var root = Path.Combine(Path.GetTempPath(), "conductor-ratelimit-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root, DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32"))
            .AddNotification(new WebhookNotificationDefinition("limited", 0, new[] { EventNames.ExecutionCompleted }, new Uri(limited.Url, "/hooks"), new[] { "s" }, 3, TimeSpan.FromSeconds(5)) { RateLimit = new RateLimit(rate, TimeSpan.FromSeconds(1)) })
            .AddNotification(new WebhookNotificationDefinition("free", 0, new[] { EventNames.ExecutionCompleted }, new Uri(unthrottled.Url, "/hooks"), new[] { "s" }, 3, TimeSpan.FromSeconds(5)));
        using var host = builder.Build();
        await host.StartAsync();
        var dispatcher = host.Services.GetRequiredService<NotificationDispatcher>();
        Console.WriteLine($"Rate limit: {rate}/s on one endpoint (Notify at {rate * 2}/s) beside an unthrottled one (Notify at 500/s), for {seconds} s");
        var clock = Stopwatch.StartNew();
        var start = Stopwatch.GetTimestamp();
        var sent = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            // Every 10 ms: the limited ensemble's share (twice its limit) and the unthrottled one's.
            var due = (int)(clock.Elapsed.TotalSeconds * 500);
            for (; sent < due; sent++)
            {
                await dispatcher.DispatchAsync(new ExecutionCompleted(DateTimeOffset.UtcNow, "free", "f" + sent, null, 1));
                if (sent % (500 / (rate * 2)) == 0) await dispatcher.DispatchAsync(new ExecutionCompleted(DateTimeOffset.UtcNow, "limited", "l" + sent, null, 1));
            }

            await Task.Delay(10);
        }

        var end = Stopwatch.GetTimestamp();
        await host.StopAsync();
        var times = limitedTimes.Select(t => (t - start) / (double)Stopwatch.Frequency).Where(t => t < (end - start) / (double)Stopwatch.Frequency).ToList();
        var total = times.Count;
        Console.WriteLine($"limited endpoint: {total} attempts in {seconds} s = {total / (double)seconds:0.00}/s (limit {rate}/s: {total / (double)seconds / rate - 1:+0.0%;-0.0%})");
        for (var window = 0; window < seconds; window += 10)
        {
            var count = times.Count(t => t >= window && t < window + 10);
            Console.WriteLine($"  {window,3}-{window + 10,3} s: {count / 10.0:0.0}/s");
        }

        Console.WriteLine($"unthrottled endpoint: {free} delivered = {free / (double)seconds:0.0}/s (Notify at 500/s)");
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class CountingReceiver(WebApplication app) : IAsyncDisposable
    {
        public Uri Url => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

        public async ValueTask DisposeAsync() => await app.DisposeAsync();
    }

    private static async Task<CountingReceiver> ReceiverAsync(Action onRequest)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            var buffer = new byte[4096];
            while (await context.Request.Body.ReadAsync(buffer) > 0)
            {
            }

            onRequest();
            context.Response.StatusCode = 200;
        });
        await app.StartAsync();
        return new CountingReceiver(app);
    }
}
