using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Sends N signed webhook deliveries through the full pipeline (dispatcher, in-memory store, worker,
// isolation, webhook channel) to a Kestrel receiver on loopback, and the same N with a bare HttpClient loop
// of equal concurrency, alternating rounds in one process. Prints deliveries/s, the ratio and the
// allocations per delivery.
//
//   dotnet run -c Release --project tests/Conductor.Sdk.DeliveryBenchmarks -- [N] [concurrency] [rounds]
//   ... -- 20000 64 5 --durable [--no-postgresql] [--with-memory] [--warmup K] [--slow-receiver MS]
//   ... -- 1 64 1 --soak 120 2000 [--no-postgresql] [--only-pruning]   (issue #34: retention soak, pruning on and off)
//   ... -- 20000 64 2 --isolation 100000 blackhole|refused [--no-postgresql] [--no-sqlite]   (issue #35: a dead endpoint's backlog)
//   ... -- 1 64 1 --rate-limit 50 60   (issue #35: a 50/s limit for 60 s beside an unthrottled endpoint)
//   ... -- 30000 64 3 --durable-processes   (issue #18: 1, 2 and 3 processes on one PostgreSQL database)
//       (issue #18: default SQLite and PostgreSQL through the generated Notify, against the bare loop)
if (args.Length > 0 && args[0] == "--durable-child")
{
    // A child of --durable-processes: one application instance on the shared PostgreSQL database.
    await DurableProcesses.ChildAsync(new Uri(args[1]), args[2], int.Parse(args[3], CultureInfo.InvariantCulture), args[4], int.Parse(args[5], CultureInfo.InvariantCulture));
    return;
}

var n = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 16;
var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
// Full-size warm-up rounds of each before measuring: tiered JIT (and dynamic PGO) of the HTTP stack, Kestrel and the
// pipeline keeps promoting methods for several rounds; measuring earlier compares partly unoptimised code.
var warmup = args.SkipWhile(a => a != "--warmup").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(8);
using var profile = args.Contains("--alloc-profile") ? new AllocationProfile() : null;
var dispatchers = 64;
var lastGc = (0, 0, 0, TimeSpan.Zero);
var backlog = args.SkipWhile(a => a != "--backlog").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(0);
PipelineHost? sharedHost = null;
long lastContention = 0;
long lastWorkItems = 0;
long lastFaults = 0;
Dictionary<string, long> lastSwitchesByName = new();
long lastCommitted = 0;
HttpClient? bareClient = null;
var postgres = args.SkipWhile(a => a != "--postgresql").Skip(1).FirstOrDefault();

var received = 0;
// Delivery ids in flight at the receiver and ids seen, for --durable-processes: an id in flight twice at once means two
// processes attempted one delivery concurrently; an id seen again is a duplicate (allowed: at least once).
var trackIds = args.Contains("--durable-processes");
var inFlight = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>();
var seenIds = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>();
var concurrentAttempts = 0;
var duplicates = 0;
// --slow-receiver MS: the receiver takes MS milliseconds per request (issue #18 point 4: a receiver slower than the producers).
var slowReceiver = args.SkipWhile(a => a != "--slow-receiver").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(0);
// Configuration files are not watched: from the directory the harness runs in, a watcher would see every write of a store
// under it (running from /tmp, the SQLite store's WAL), and its wake-ups would count against the store rounds.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
builder.Logging.ClearProviders();
builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
var receiver = builder.Build();
receiver.Run(async context =>
{
    // Read the body as a real receiver would, then answer 200 with no body.
    var buffer = new byte[4096];
    while (await context.Request.Body.ReadAsync(buffer) > 0)
    {
    }

    var deliveryId = trackIds ? context.Request.Headers["X-Conductor-Delivery-Id"].ToString() : null;
    if (deliveryId is not null)
    {
        if (!inFlight.TryAdd(deliveryId, 0)) Interlocked.Increment(ref concurrentAttempts);
        if (!seenIds.TryAdd(deliveryId, 0)) Interlocked.Increment(ref duplicates);
    }

    if (slowReceiver > 0) await Task.Delay(slowReceiver);
    if (deliveryId is not null) inFlight.TryRemove(deliveryId, out _);
    Interlocked.Increment(ref received);
    context.Response.StatusCode = 200;
});
await receiver.StartAsync();
var url = new Uri(new Uri(receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()), "/hooks");

var sample = new ExecutionCompleted(DateTimeOffset.UtcNow, "bench", "exec-0000000000", null, 1234);
var bodyLength = EventPayload.Serialize(sample).Length;
Console.WriteLine($"N = {n}, concurrency = {concurrency}, rounds = {rounds}, body = {bodyLength} bytes, receiver = {url}");
Console.WriteLine($"{Environment.ProcessorCount} cores, .NET {Environment.Version}, Server GC = {System.Runtime.GCSettings.IsServerGC}");

if (args.Contains("--isolation"))
{
    await Isolation.RunAsync(url, args, n, rounds, () => Volatile.Read(ref received));
    await receiver.StopAsync();
    return;
}

if (args.Contains("--rate-limit"))
{
    await Isolation.RateLimitAsync(args);
    await receiver.StopAsync();
    return;
}

if (args.Contains("--soak"))
{
    // Issue #34: retention keeps the store at a plateau; pruning does not slow Notify.
    await Soak.RunAsync(url, args, () => Volatile.Read(ref received));
    await receiver.StopAsync();
    return;
}

if (args.Contains("--durable-processes"))
{
    // Issue #18 point 3: 1, 2 and 3 processes sharing one PostgreSQL database (a cluster started here), N events in all.
    var senders = 64;
    var cluster = new Conductor.Sdk.Tests.Infrastructure.PostgreSqlCluster();
    await cluster.InitializeAsync();
    try
    {
        var curve = new List<(int Processes, double PerSecond, double Busy)>();
        foreach (var processes in new[] { 1, 2, 3 })
        {
            var rates = new List<double>();
            var busy = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                var (rate, machineBusy) = await DurableProcesses.RunAsync(processes, n, url, cluster.CreateDatabase(), senders, () => Volatile.Read(ref received), () => Volatile.Write(ref received, 0));
                rates.Add(rate);
                busy.Add(machineBusy);
                Console.WriteLine($"{processes} process(es), round {round + 1}: {rate:N0} deliveries/s, machine CPU busy {machineBusy:P0}");
            }

            curve.Add((processes, Median(rates), Median(busy)));
        }

        Console.WriteLine();
        Console.WriteLine($"N = {n} per round in all, {senders} Notify callers per process, median of {rounds} rounds");
        Console.WriteLine($"| processes | deliveries/s | × 1 process | machine CPU busy ({Environment.ProcessorCount} cores) |");
        Console.WriteLine("|---:|---:|---:|---:|");
        foreach (var (processes, rate, machineBusy) in curve) Console.WriteLine($"| {processes} | {rate:N0} | {rate / curve[0].PerSecond:0.00} | {machineBusy:P0} |");
        Console.WriteLine($"delivery ids in flight twice at the same time (two processes attempting one delivery): {concurrentAttempts}; ids received more than once: {duplicates}");
    }
    finally
    {
        await cluster.DisposeAsync();
        await receiver.StopAsync();
    }

    return;
}

if (args.Contains("--durable"))
{
    // Issue #18: the default SQLite store and PostgreSQL (a cluster started here), through the generated Notify API,
    // against the bare signed loop; rounds alternate so that drift affects each alike.
    var senders = 64;
    await using var durable = new DurableBenchmark(url, senders, () => Volatile.Read(ref received), () => Volatile.Write(ref received, 0))
    {
        FreshHost = args.Contains("--fresh-host"),
        HostDefaults = args.Contains("--host-defaults"),
        Verbose = args.Contains("--verbose"),
        NoopChannel = args.Contains("--noop-channel"),
        Callers = args.SkipWhile(a => a != "--callers").Skip(1).Select(a => (int?)int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(),
    };
    var cluster = args.Contains("--no-postgresql") ? null : new Conductor.Sdk.Tests.Infrastructure.PostgreSqlCluster();
    if (cluster is not null) await cluster.InitializeAsync();
    var previous = concurrency;
    concurrency = senders;
    try
    {
        // Warm-up rounds of each path (tiered JIT keeps promoting the HTTP stack, Kestrel, SQLite and the pipeline).
        var durableWarmup = args.SkipWhile(a => a != "--warmup").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(2);
        string? postgresDatabase = null; // one database for the run, as the host is (a fresh one per round with --fresh-host)
        string PostgresDatabase() => durable.FreshHost ? cluster!.CreateDatabase() : postgresDatabase ??= cluster!.CreateDatabase();
        for (var round = 0; round < durableWarmup; round++)
        {
            if (!args.Contains("--only-stores")) await DurableBenchmark.MeasureBare(n, Bare);
            if (!args.Contains("--no-sqlite")) await durable.MeasureStore(n, postgres: null);
            if (args.Contains("--with-memory")) await durable.MeasureStore(n, postgres: null, inMemory: true);
            if (cluster is not null) await durable.MeasureStore(n, PostgresDatabase());
        }

        var memoryRounds = new List<DurableBenchmark.Round>();
        var bareRounds = new List<DurableBenchmark.Round>();
        var sqliteRounds = new List<DurableBenchmark.Round>();
        var pgRounds = new List<DurableBenchmark.Round>();
        for (var round = 0; round < rounds; round++)
        {
            // --alloc-profile: the last round of the bare loop and of SQLite.
            var profiling = profile is not null && round == rounds - 1;
            if (profiling) profile!.Enabled = true;
            // --only-stores (for profilers): no bare rounds, the ratio column is then meaningless.
            bareRounds.Add(args.Contains("--only-stores") ? new DurableBenchmark.Round(1, double.NaN, double.NaN, 0) : await DurableBenchmark.MeasureBare(n, Bare));
            if (profiling)
            {
                Console.WriteLine("allocations, bare round:");
                profile!.Print(20);
                profile.Clear();
            }

            if (!args.Contains("--no-sqlite")) sqliteRounds.Add(await durable.MeasureStore(n, postgres: null));
            if (profiling)
            {
                profile!.Enabled = false;
                Console.WriteLine("allocations, SQLite round:");
                profile.Print(40);
            }

            if (args.Contains("--with-memory")) memoryRounds.Add(await durable.MeasureStore(n, postgres: null, inMemory: true));
            if (cluster is not null) pgRounds.Add(await durable.MeasureStore(n, PostgresDatabase()));
            Console.WriteLine($"round {round + 1}: bare {bareRounds[^1].PerSecond:N0}/s, SQLite {(sqliteRounds.Count == 0 ? "-" : sqliteRounds[^1].PerSecond.ToString("N0", CultureInfo.InvariantCulture))}/s" + (cluster is null ? "" : $", PostgreSQL {pgRounds[^1].PerSecond:N0}/s"));
        }

        static string Row(string name, List<DurableBenchmark.Round> r, double baseline) => r.Count == 0 ? "" :
            $"| {name} | {Median(r.Select(x => x.PerSecond)):N0} | {Median(r.Select(x => x.PerSecond)) / baseline:0.00} | {(double.IsNaN(r[0].NotifyP50Micros) ? "-" : Median(r.Select(x => x.NotifyP50Micros)).ToString("N0", CultureInfo.InvariantCulture) + " µs")} | {(double.IsNaN(r[0].NotifyP99Micros) ? "-" : Median(r.Select(x => x.NotifyP99Micros)).ToString("N0", CultureInfo.InvariantCulture) + " µs")} | {Median(r.Select(x => x.CpuMicrosPerDelivery)):N1} µs | {(double.IsNaN(r[0].NotifyPerSecond) ? "-" : Median(r.Select(x => x.NotifyPerSecond)).ToString("N0", CultureInfo.InvariantCulture))} |\n";
        var bareMedian = Median(bareRounds.Select(x => x.PerSecond));
        Console.WriteLine();
        Console.WriteLine($"N = {n} per round, {senders} concurrent senders, median of {rounds} rounds");
        if (slowReceiver > 0) Console.WriteLine($"receiver: {slowReceiver} ms per request, so at most {senders * 1000 / slowReceiver:N0} deliveries/s");
        Console.WriteLine("| path | deliveries/s | × bare | Notify p50 | Notify p99 | CPU per delivery (process) | Notify calls/s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Console.Write(Row("bare signed HttpClient loop", bareRounds, bareMedian) + Row("Notify → default SQLite store", sqliteRounds, bareMedian) + Row("Notify → PostgreSQL store", pgRounds, bareMedian) + Row("Notify → in-memory store (reference)", memoryRounds, bareMedian));
        Console.WriteLine("targets: SQLite >= 0.80 × bare; PostgreSQL >= 0.50 × bare");
        static string Thirds(string name, List<DurableBenchmark.Round> r) => r.Count == 0 ? "" :
            $"| {name} | {Median(r.Select(x => (double)x.BacklogAfterNotify)):N0} | {Median(r.Select(x => x.NotifyP99Thirds.First)):N0} µs | {Median(r.Select(x => x.NotifyP99Thirds.Last)):N0} µs |\n";
        Console.WriteLine();
        Console.WriteLine("| path | backlog when the last Notify returned | Notify p99, first third of the calls | Notify p99, last third |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.Write(Thirds("default SQLite store", sqliteRounds) + Thirds("PostgreSQL store", pgRounds) + Thirds("in-memory store", memoryRounds));
    }
    finally
    {
        concurrency = previous;
        if (cluster is not null) await cluster.DisposeAsync();
        await receiver.StopAsync();
    }

    return;
}

if (args.Contains("--stores"))
{
    // Issue #5: durable enqueue throughput and end-to-end deliveries, SQLite next to the in-memory store.
    var producers = concurrency * 4;
    await Enqueue(Math.Min(n, 2000), sqlite: false, producers);
    await Enqueue(Math.Min(n, 2000), sqlite: true, producers);
    var memoryEnqueue = new List<double>();
    var sqliteEnqueue = new List<double>();
    var memoryRun = new List<Result>();
    var sqliteRun = new List<Result>();
    var pgEnqueue = new List<double>();
    var pgRun = new List<Result>();
    for (var round = 0; round < rounds; round++)
    {
        memoryEnqueue.Add(await Enqueue(n, sqlite: false, producers));
        sqliteEnqueue.Add(await Enqueue(n, sqlite: true, producers));
        memoryRun.Add(await Pipeline(n));
        sqliteRun.Add(await Pipeline(n, sqlite: true));
        if (postgres is not null)
        {
            pgEnqueue.Add(await Enqueue(n, sqlite: false, producers, pg: true));
            pgRun.Add(await Pipeline(n, pg: true));
        }
    }

    Console.WriteLine();
    Console.WriteLine("| measure | in-memory | SQLite | SQLite / in-memory |");
    Console.WriteLine("|---|---:|---:|---:|");
    Console.WriteLine($"| enqueue, events/s ({producers} producers) | {Median(memoryEnqueue):N0} | {Median(sqliteEnqueue):N0} | {Median(sqliteEnqueue) / Median(memoryEnqueue):0.00} |");
    Console.WriteLine($"| end to end, deliveries/s | {Median(memoryRun.Select(r => r.PerSecond)):N0} | {Median(sqliteRun.Select(r => r.PerSecond)):N0} | {Median(sqliteRun.Select(r => r.PerSecond)) / Median(memoryRun.Select(r => r.PerSecond)):0.00} |");
    if (postgres is not null)
    {
        Console.WriteLine($"| PostgreSQL enqueue, events/s | {Median(memoryEnqueue):N0} | {Median(pgEnqueue):N0} (PostgreSQL) | {Median(pgEnqueue) / Median(memoryEnqueue):0.00} |");
        Console.WriteLine($"| PostgreSQL end to end, deliveries/s | {Median(memoryRun.Select(r => r.PerSecond)):N0} | {Median(pgRun.Select(r => r.PerSecond)):N0} (PostgreSQL) | {Median(pgRun.Select(r => r.PerSecond)) / Median(memoryRun.Select(r => r.PerSecond)):0.00} |");
    }

    Console.WriteLine($"targets: SQLite enqueue >= 20,000 events/s; SQLite end to end >= 0.5 of in-memory");
    if (sharedHost is not null) await sharedHost.DisposeAsync();
    await receiver.StopAsync();
    return;
}

if (args.Contains("--enqueue-only"))
{
    // For profilers: rounds of dispatching N events into the in-memory store (no worker).
    for (var round = 0; round < rounds; round++) await Enqueue(n, sqlite: false, concurrency * 4);
    await receiver.StopAsync();
    return;
}

if (args.Contains("--retained"))
{
    // Diagnostic: heap bytes kept per pending delivery (N events dispatched, worker not started) and per delivered one
    // (after the worker ran them), measured with full collections.
    var host = await StartHost(false, false, start: false);
    var before = Retained();
    var at = DateTimeOffset.UtcNow;
    for (var i = 0; i < n; i++)
    {
        await host.Dispatcher.DispatchAsync(new ExecutionCompleted(at, "bench", "exec-" + i.ToString("D10", CultureInfo.InvariantCulture), null, 1234));
    }

    var pending = Retained();
    Console.WriteLine($"retained per pending delivery: {(double)(pending - before) / n:N0} B");
    host.Round = new RoundState(n, null);
    foreach (var hosted in host.Hosted) await hosted.StartAsync(CancellationToken.None);
    await host.Round.Done.Task.WaitAsync(TimeSpan.FromMinutes(5));
    await host.Processor.WhenIdleAsync();
    Console.WriteLine($"retained per delivered delivery: {(double)(Retained() - before) / n:N0} B");
    await host.DisposeAsync();
    await receiver.StopAsync();
    return;

    static long Retained()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

if (args.Contains("--channel-loop"))
{
    // Diagnostic: the webhook channel alone (request building, signing, HttpClient from the factory), called by C loops
    // like the bare one, with no store, processor or Polly, next to the bare loop with the same headers.
    for (var round = 0; round < rounds; round++)
    {
        if (!args.Contains("--only-channel")) await Bare(n);
        await ChannelLoop(n);
    }

    if (sharedHost is not null) await sharedHost.DisposeAsync();
    await receiver.StopAsync();
    return;
}

if (args.Contains("--only-pipeline") || args.Contains("--only-bare"))
{
    // For profilers: rounds of one side only.
    for (var round = 0; round < rounds; round++)
    {
        if (args.Contains("--only-bare")) await Bare(n);
        else await Pipeline(n);
    }

    if (sharedHost is not null) await sharedHost.DisposeAsync();
    await receiver.StopAsync();
    return;
}

var bare = new List<Result>();
var pipeline = new List<Result>();
lastGc = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
// Warm-up rounds of each, then measured rounds, alternating so that drift affects both alike.
Console.WriteLine($"{warmup} warm-up rounds of each:");
for (var round = 0; round < warmup; round++)
{
    await Bare(n);
    await Pipeline(n);
}

Console.WriteLine("measured rounds:");
for (var round = 0; round < rounds; round++)
{
    bare.Add(await Bare(n));
    pipeline.Add(await Pipeline(n));
}

if (profile is not null)
{
    profile.Enabled = true;
    await Bare(n);
    profile.Enabled = false;
    Console.WriteLine("Sampled allocations of one bare round, by type:");
    profile.Print();
    profile.Clear();
    profile.Enabled = true;
    await Pipeline(n);
    profile.Enabled = false;
    Console.WriteLine("Sampled allocations of one pipeline round, by type:");
    profile.Print();
}

var bareRate = Median(bare.Select(r => r.PerSecond));
var pipelineRate = Median(pipeline.Select(r => r.PerSecond));
var bareAlloc = Median(bare.Select(r => r.BytesPerDelivery));
var pipelineAlloc = Median(pipeline.Select(r => r.BytesPerDelivery));
Console.WriteLine();
Console.WriteLine("| run | deliveries/s (median) | allocated bytes/delivery (median) |");
Console.WriteLine("|---|---:|---:|");
Console.WriteLine($"| bare HttpClient loop | {bareRate:N0} | {bareAlloc:N0} |");
Console.WriteLine($"| Conductor pipeline | {pipelineRate:N0} | {pipelineAlloc:N0} |");
Console.WriteLine();
Console.WriteLine($"ratio pipeline/bare = {pipelineRate / bareRate:0.00} (target >= 0.80)");
Console.WriteLine($"extra allocation per delivery = {pipelineAlloc - bareAlloc:N0} bytes; beyond the {bodyLength}-byte body = {pipelineAlloc - bareAlloc - bodyLength:N0} bytes (target < 4,096)");
if (sharedHost is not null) await sharedHost.DisposeAsync();
await receiver.StopAsync();
return;

async Task<Result> Bare(int count)
{
    var body = EventPayload.Serialize(sample);
    var headers = args.Contains("--bare-plain") ? [] : await ChannelHeaders(body);
    // One client for the whole run (its connections stay open between rounds), as the pipeline keeps its host.
    var client = bareClient ??= new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false, UseCookies = false });
    var next = -1;
    Volatile.Write(ref received, 0);
    var meter = StartRound();
    var workers = Enumerable.Range(0, concurrency).Select(async _ =>
    {
        while (Interlocked.Increment(ref next) < count)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            // The same request the webhook channel sends for a delivery: its headers (signature included) were taken from
            // the channel once, so the bare loop puts the same bytes on the wire without building or signing anything.
            // --bare-plain: only the body and its content type (the baseline of the first three sessions).
            foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
            using var timeout = args.Contains("--bare-timeout") ? new CancellationTokenSource(TimeSpan.FromSeconds(5)) : null;
            using var response = await client.SendAsync(request, timeout?.Token ?? CancellationToken.None);
            if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"bare request failed: {response.StatusCode}");
        }
    }).ToArray();
    await Task.WhenAll(workers);
    var measured = meter.Stop();
    Check(count);
    return Report("bare", count, measured);
}

async Task<Result> ChannelLoop(int count)
{
    var host = sharedHost ??= await StartHost(false, false);
    var channel = WebhookChannelOf(host);
    var notification = host.Provider.GetRequiredService<NotificationRegistry>().All.Single();
    var body = EventPayload.Serialize(sample);
    var next = -1;
    Volatile.Write(ref received, 0);
    var meter = StartRound();
    var now = DateTimeOffset.UtcNow;
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < count)
        {
            var record = PendingDelivery(notification, body, now);
            var result = await channel.SendAsync(new Conductor.Sdk.Channels.DeliveryAttempt(record, notification, 1), CancellationToken.None);
            if (result.Outcome != AttemptOutcome.Delivered) throw new InvalidOperationException(result.Error);
        }
    }));
    var measured = meter.Stop();
    Check(count);
    return Report("channel", count, measured);
}

// The headers (other than the content's) of the request the webhook channel builds for a first attempt of this body.
async Task<(string Name, string Value)[]> ChannelHeaders(byte[] body)
{
    var host = sharedHost ??= await StartHost(false, false);
    var channel = WebhookChannelOf(host);
    var notification = host.Provider.GetRequiredService<NotificationRegistry>().All.Single();
    using var request = channel.CreateRequest(new Conductor.Sdk.Channels.DeliveryAttempt(PendingDelivery(notification, body, DateTimeOffset.UtcNow), notification, 1));
    return request.Headers.NonValidated.Select(h => (h.Key, string.Join(", ", h.Value))).ToArray();
}

// The host's webhook channel; with --noop-channel the host has none, and one is made (it sends through the same factory).
WebhookChannel WebhookChannelOf(PipelineHost host) =>
    host.Provider.GetServices<Conductor.Sdk.Channels.INotificationChannel>().OfType<WebhookChannel>().SingleOrDefault()
    ?? new WebhookChannel(host.Provider.GetRequiredService<IHttpClientFactory>(), TimeProvider.System);

// A first-attempt webhook delivery of the bench notification, as the dispatcher would store it.
Conductor.Sdk.Delivery.DeliveryRecord PendingDelivery(NotificationDefinition notification, byte[] payload, DateTimeOffset at) =>
    new(Conductor.Sdk.Delivery.DeliveryRecord.NewId(TimeProvider.System), "bench", EventNames.ExecutionCompleted, notification.Key, "webhook",
        url.ToString(), payload, at, at, Conductor.Sdk.Delivery.DeliveryStatus.Pending, 0, notification.Retries + 1);

async Task<double> Enqueue(int count, bool sqlite, int producers, bool pg = false)
{
    var directory = Path.Combine(Path.GetTempPath(), "conductor-bench-" + Guid.NewGuid().ToString("N"));
    var services = new ServiceCollection();
    services.AddLogging();
    var builder = services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32"))
        .AddNotification(new WebhookNotificationDefinition("bench", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "bench-secret" }));
    if (sqlite) builder.UseSqlite(Path.Combine(directory, "deliveries.db"));
    else if (!pg) builder.UseInMemoryStore();
    if (pg) builder.UsePostgreSql(FreshDatabase());
    await using (var provider = services.BuildServiceProvider())
    {
        var dispatcher = provider.GetRequiredService<NotificationDispatcher>();
        var next = -1;
        var now = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, producers).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                await dispatcher.DispatchAsync(new ExecutionCompleted(now, "bench", "exec-" + next.ToString("D10", CultureInfo.InvariantCulture), null, 1234));
            }
        }));
        clock.Stop();
        var rate = count / clock.Elapsed.TotalSeconds;
        Console.WriteLine($"enqueue   {(pg ? "postgres" : sqlite ? "sqlite" : "memory"),-8} {count,7} events in {clock.Elapsed.TotalMilliseconds,8:N0} ms = {rate,9:N0}/s");
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        return rate;
    }
}

string FreshDatabase()
{
    var name = "bench" + Guid.NewGuid().ToString("N");
    using (var admin = new Npgsql.NpgsqlConnection(postgres))
    {
        admin.Open();
        using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE {name}", admin);
        create.ExecuteNonQuery();
    }

    return new Npgsql.NpgsqlConnectionStringBuilder(postgres) { Database = name, MaxPoolSize = 60 }.ToString();
}

async Task<PipelineHost> StartHost(bool sqlite, bool pg, bool start = true)
{
    var directory = Path.Combine(Path.GetTempPath(), "conductor-bench-" + Guid.NewGuid().ToString("N"));
    var services = new ServiceCollection();
    services.AddLogging();
    var conductor = services.AddConductor(o =>
        {
            o.AllowedNetworks.Add("127.0.0.1/32");
            o.MaxConcurrentPerEndpoint = concurrency;
            o.MaxConcurrentDeliveries = concurrency;
        })
        .AddNotification(new WebhookNotificationDefinition("bench", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "bench-secret" }));
    if (sqlite) conductor.UseSqlite(Path.Combine(directory, "deliveries.db"));
    else if (!pg) conductor.UseInMemoryStore();
    if (pg) conductor.UsePostgreSql(FreshDatabase());
    if (args.Contains("--time-store"))
    {
        var path = Path.Combine(directory, "deliveries.db");
        services.RemoveAll<Conductor.Sdk.Delivery.IDeliveryStore>();
        services.AddSingleton<Conductor.Sdk.Delivery.IDeliveryStore>(_ => new TimedStore(sqlite ? new SqliteDeliveryStore(path) : new Conductor.Sdk.Delivery.InMemoryDeliveryStore()));
    }

    if (args.Contains("--queue-only-store"))
    {
        services.RemoveAll<Conductor.Sdk.Delivery.IDeliveryStore>();
        services.AddSingleton<Conductor.Sdk.Delivery.IDeliveryStore, QueueOnlyStore>();
    }

    if (args.Contains("--noop-channel"))
    {
        // Diagnostic: everything but HTTP, to separate the pipeline's own cost from the request's.
        services.RemoveAll<Conductor.Sdk.Channels.INotificationChannel>();
        services.AddSingleton<Conductor.Sdk.Channels.INotificationChannel, NoopChannel>();
    }

    var provider = services.BuildServiceProvider();
    var host = new PipelineHost(provider, directory);
    host.Processor.AttemptRecorded += attempt =>
    {
        var round = host.Round;
        if (attempt.Outcome != AttemptOutcome.Delivered) round.Done.TrySetException(new InvalidOperationException($"attempt failed: {attempt.Error}"));
        else if (Interlocked.Increment(ref round.Delivered) == round.Count) round.Done.TrySetResult();
        round.Backlog?.Release();
    };
    if (start)
    {
        foreach (var hosted in host.Hosted) await hosted.StartAsync(CancellationToken.None);
    }

    return host;
}

async Task<Result> Pipeline(int count, bool sqlite = false, bool pg = false)
{
    // The in-memory pipeline runs in one host for the whole run, like an application: its deliveries are purged
    // between rounds (outside the measurement). --fresh-host (and the durable stores) build a new host per round.
    var shared = !sqlite && !pg && !args.Contains("--fresh-host");
    var host = shared ? sharedHost ??= await StartHost(false, false) : await StartHost(sqlite, pg);
    var dispatcher = host.Dispatcher;
    var processor = host.Processor;
    // --backlog K: events are dispatched while fewer than K deliveries are waiting, as when a web application's
    // requests call Notify about as fast as deliveries leave; without it all N are enqueued at once (a burst).
    var round = host.Round = new RoundState(count, backlog > 0 ? new SemaphoreSlim(backlog) : null);
    var done = round.Done;
    Volatile.Write(ref received, 0);
    var predispatch = args.Contains("--predispatch");
    if (predispatch)
    {
        // Diagnostic: the N deliveries are stored before the clock starts (without waking the worker), so that only
        // leasing, sending and recording are measured.
        var store = host.Provider.GetRequiredService<Conductor.Sdk.Delivery.IDeliveryStore>();
        var notification = host.Provider.GetRequiredService<NotificationRegistry>().All.Single();
        var at = DateTimeOffset.UtcNow;
        for (var i = 0; i < count; i++)
        {
            var payload = EventPayload.Serialize(new ExecutionCompleted(at, "bench", "exec-" + i.ToString("D10", CultureInfo.InvariantCulture), null, 1234));
            await store.EnqueueAsync(new[] { PendingDelivery(notification, payload, at) });
        }
    }

    var meter = StartRound();
    var now = DateTimeOffset.UtcNow;
    if (predispatch) host.Provider.GetRequiredService<Conductor.Sdk.Delivery.DeliverySignal>().Notify();
    // Diagnostic (--verbose): how many attempts are in flight on average, sampled every millisecond.
    var occupancy = args.Contains("--verbose") ? Task.Run(async () =>
    {
        long sum = 0, samples = 0;
        while (!done.Task.IsCompleted)
        {
            sum += processor.InFlight;
            samples++;
            await Task.Delay(1);
        }

        return samples == 0 ? 0 : (double)sum / samples;
    }) : Task.FromResult(0.0);
    // Events arrive from several callers at once, as requests of a web application would call Notify.
    var nextEvent = -1;
    await Task.WhenAll(Enumerable.Range(0, dispatchers).Select(async _ =>
    {
        int i;
        while (!predispatch && (i = Interlocked.Increment(ref nextEvent)) < count)
        {
            if (round.Backlog is not null) await round.Backlog.WaitAsync();
            await dispatcher.DispatchAsync(new ExecutionCompleted(now, "bench", "exec-" + i.ToString("D10", CultureInfo.InvariantCulture), null, 1234));
        }
    }));

    var dispatched = meter.Elapsed;
    await done.Task.WaitAsync(TimeSpan.FromMinutes(5));
    var measured = meter.Stop();
    if (args.Contains("--verbose")) Console.WriteLine($"  dispatch of {count} events took {dispatched.TotalMilliseconds:N0} ms; attempts in flight: {await occupancy:0.0} on average");
    await host.Processor.WhenIdleAsync();
    Check(count);
    if (shared)
    {
        // What an application's retention job would do: delivered records are dropped, so rounds do not pile up.
        await host.Provider.GetRequiredService<Conductor.Sdk.Delivery.IDeliveryStore>().PurgeAsync(DateTimeOffset.MaxValue, Conductor.Sdk.Delivery.DeliveryStatus.Delivered);
    }
    else
    {
        await host.DisposeAsync();
    }

    var result = Report(pg ? "pipeline/postgres" : sqlite ? "pipeline/sqlite" : "pipeline", count, measured);
    if (args.Contains("--time-store")) TimedStore.Print();
    return result;
}

// Starts a measured round: the heap settled first, then wall clock, allocation and process CPU time from here on.
Meter StartRound()
{
    Settle();
    return new Meter();
}

// Between measured rounds (outside the clock): a full blocking collection, so that a round does not pay for the
// garbage of the one before (BenchmarkDotNet does the same between iterations).
void Settle()
{
    if (!args.Contains("--no-settle"))
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    lastGc = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
    lastContention = Monitor.LockContentionCount;
    lastWorkItems = ThreadPool.CompletedWorkItemCount;
    lastFaults = MinorFaults();
    lastSwitchesByName = ProcessCounters.SwitchesByName();
    lastCommitted = GC.GetGCMemoryInfo().TotalCommittedBytes;
}

void Check(int count)
{
    if (args.Contains("--noop-channel")) return;
    if (Volatile.Read(ref received) != count) throw new InvalidOperationException($"receiver saw {received} requests, expected {count}");
}

Result Report(string name, int count, Measured measured)
{
    var (elapsed, allocated, cpu) = measured;
    var result = new Result(count / elapsed.TotalSeconds, (double)allocated / count);
    var gc = "";
    if (args.Contains("--verbose"))
    {
        // GCs and pause time since the previous report (so per round, warm-up included in the first).
        var counts = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
        // CPU time of the whole process (receiver included) per delivery, and how busy the cores were.
        gc = $", CPU {cpu.TotalMicroseconds / count:0.0} µs/delivery ({cpu / elapsed / Environment.ProcessorCount:P0} of {Environment.ProcessorCount} cores)";
        gc += $", GCs {counts.Item1 - lastGc.Item1}/{counts.Item2 - lastGc.Item2}/{counts.Item3 - lastGc.Item3} (gen0/1/2), paused {(counts.Item4 - lastGc.Item4).TotalMilliseconds:N0} ms";
        lastGc = counts;
        var last = GC.GetGCMemoryInfo(GCKind.Ephemeral);
        gc += $"; lock contentions {Monitor.LockContentionCount - lastContention:N0}";
        lastContention = Monitor.LockContentionCount;
        gc += $"; thread-pool work items {(double)(ThreadPool.CompletedWorkItemCount - lastWorkItems) / count:0.00}/delivery";
        lastWorkItems = ThreadPool.CompletedWorkItemCount;
        gc += $", {ThreadPool.ThreadCount} threads, {MinorFaults() - lastFaults:N0} page faults, ";
        gc += ProcessCounters.SwitchesPerDelivery(lastSwitchesByName, count, top: 4);
        gc += $"; last gen{last.Generation} GC: promoted {last.PromotedBytes / 1024:N0} KB, pause {last.PauseDurations[0].TotalMilliseconds:0.0} ms, gen0 budget ~{last.GenerationInfo[0].SizeBeforeBytes / 1024 / 1024:N0} MB, heap {last.HeapSizeBytes / 1024 / 1024:N0} MB, committed {last.TotalCommittedBytes / 1024 / 1024:N0} MB (after the settle: {lastCommitted / 1024 / 1024:N0} MB)";
    }

    Console.WriteLine($"{name,-9} {count,7} deliveries in {elapsed.TotalMilliseconds,8:N0} ms = {result.PerSecond,9:N0}/s, {result.BytesPerDelivery,8:N0} B/delivery{gc}");
    return result;
}

// Minor page faults of this process so far (Linux: /proc/self/stat, field 10), or 0 elsewhere.
static long MinorFaults()
{
    try
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }
    catch (IOException)
    {
        return 0;
    }
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.OrderBy(v => v).ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

internal sealed record Result(double PerSecond, double BytesPerDelivery);

internal sealed record Measured(TimeSpan Elapsed, long Allocated, TimeSpan Cpu);

/// <summary>Wall clock, allocated bytes (all threads) and process CPU time since it was made.</summary>
internal sealed class Meter
{
    private readonly long _allocated = GC.GetTotalAllocatedBytes(precise: true);
    private readonly TimeSpan _cpu = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public TimeSpan Elapsed => _clock.Elapsed;

    public Measured Stop()
    {
        _clock.Stop();
        return new(_clock.Elapsed, GC.GetTotalAllocatedBytes(precise: true) - _allocated, Process.GetCurrentProcess().TotalProcessorTime - _cpu);
    }
}

internal sealed class RoundState(int count, SemaphoreSlim? backlog)
{
    public readonly int Count = count;
    public int Delivered;
    public readonly SemaphoreSlim? Backlog = backlog;
    public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class PipelineHost(ServiceProvider provider, string directory) : IAsyncDisposable
{
    public ServiceProvider Provider { get; } = provider;
    public NotificationDispatcher Dispatcher { get; } = provider.GetRequiredService<NotificationDispatcher>();
    public DeliveryProcessor Processor { get; } = provider.GetRequiredService<DeliveryProcessor>();
    public List<IHostedService> Hosted { get; } = provider.GetServices<IHostedService>().ToList();
    public RoundState Round { get; set; } = new(0, null);

    public async ValueTask DisposeAsync()
    {
        foreach (var hosted in Hosted) await hosted.StopAsync(CancellationToken.None);
        await Provider.DisposeAsync();
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }
}

internal sealed class NoopChannel : Conductor.Sdk.Channels.INotificationChannel
{
    public string Channel => "webhook";

    public string EndpointOf(NotificationDefinition notification) => ((WebhookNotificationDefinition)notification).Endpoint;

    public async ValueTask<Conductor.Sdk.Channels.AttemptResult> SendAsync(Conductor.Sdk.Channels.DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return Conductor.Sdk.Channels.AttemptResult.Delivered(200);
    }
}
