using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.Benchmarks;

/// <summary>
/// Issue #23 point 3: dashboard pages over 1,000,000 stored deliveries in the default SQLite store, each request made
/// over HTTP to the real <c>MapConductorDashboard</c> endpoints (Kestrel on loopback), as a browser would.
/// The data (30 days of deliveries, one attempt each; 97 % delivered, 3 % dead-lettered; 1 % to a rare ensemble and a
/// rare endpoint) is written once to a file under the temp folder and reused by later runs.
/// </summary>
[MemoryDiagnoser]
public class DashboardBenchmarks
{
    public const int Deliveries = 1_000_000;
    private static readonly DateTimeOffset Newest = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private WebApplication? _app;
    private HttpClient _client = null!;
    private string _deepCursor = null!;
    private string _detailId = null!;

    [GlobalSetup]
    public void Setup()
    {
        var path = Path.Combine(Path.GetTempPath(), $"conductor-dashboard-{Deliveries}-v1.db");
        if (!File.Exists(path)) Generate(path);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development, Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddAntiforgery();
        builder.Services.AddConductor().UseSqlite(path);
        // The summary's window ends at the data's newest delivery, not at today.
        builder.Services.AddSingleton<TimeProvider>(new FixedTime(Newest));
        _app = builder.Build();
        _app.MapConductorDashboard("/conductor", o => o.AllowAnonymousInDevelopment = true);
        _app.StartAsync().GetAwaiter().GetResult();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _client = new HttpClient { BaseAddress = new Uri(address) };
        var store = _app.Services.GetRequiredService<IDeliveryStore>();
        // A cursor 900,000 rows deep, and one delivery to open.
        var deep = store.ListAsync(new DeliveryQuery(Before: new DeliveryCursor(Newest.AddDays(-27), "dlv_~"), Limit: 1)).AsTask().GetAwaiter().GetResult().Single();
        _deepCursor = DeliveryCursor.After(deep).ToString();
        _detailId = deep.Id;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _app?.StopAsync().GetAwaiter().GetResult();
    }

    private int Get(string path)
    {
        using var response = _client.GetAsync(path).GetAwaiter().GetResult();
        response.EnsureSuccessStatusCode();
        return response.Content.ReadAsStringAsync().GetAwaiter().GetResult().Length;
    }

    [Benchmark(Description = "first page (50 newest)")]
    public int FirstPage() => Get("/conductor/");

    [Benchmark(Description = "page 900,000 rows deep (keyset cursor)")]
    public int DeepPage() => Get("/conductor/?before=" + Uri.EscapeDataString(_deepCursor));

    [Benchmark(Description = "dead letters (status filter)")]
    public int DeadLetters() => Get("/conductor/?status=deadlettered");

    [Benchmark(Description = "rare ensemble (1 %)")]
    public int RareEnsemble() => Get("/conductor/?ensemble=rare-sync");

    [Benchmark(Description = "time range (one hour, 27 days back)")]
    public int TimeRange() => Get("/conductor/?from=" + Newest.AddDays(-27).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture) + "&to=" + Newest.AddDays(-27).AddHours(1).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture));

    [Benchmark(Description = "search by id prefix")]
    public int SearchId() => Get("/conductor/?q=" + _detailId[..12]);

    [Benchmark(Description = "search by endpoint (1 %)")]
    public int SearchEndpoint() => Get("/conductor/?q=rare.example.net");

    [Benchmark(Description = "delivery detail with attempts")]
    public int Detail() => Get("/conductor/deliveries/" + _detailId);

    [Benchmark(Description = "summary (last hour)")]
    public int Summary() => Get("/conductor/summary");

    /// <summary>The store's own schema (opened once through SqliteDeliveryStore), then rows written in large transactions.</summary>
    private static void Generate(string path)
    {
        var clock = Stopwatch.StartNew();
        new SqliteDeliveryStore(path).DisposeAsync().AsTask().GetAwaiter().GetResult();
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        var random = new Random(23);
        var payload = "{\"event\":\"execution.completed\",\"timestamp\":\"2026-11-30T10:00:00Z\",\"data\":{\"ensemble\":\"orders\",\"id\":\"exec\",\"status\":\"completed\",\"output\":{},\"duration\":1234}}"u8.ToArray();
        var span = TimeSpan.FromDays(30).Ticks;
        for (var batch = 0; batch < Deliveries / 50_000; batch++)
        {
            using var transaction = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO deliveries (id, ensemble, event, notification_key, channel, endpoint, payload, created_at, due_at, status, attempts, max_attempts, last_status_code, last_error_kind, last_error) VALUES ($id, $ensemble, $event, $key, 'webhook', $endpoint, $payload, $created, $created, $status, 1, 4, $code, $kind, $error)";
            using var attempt = connection.CreateCommand();
            attempt.Transaction = transaction;
            attempt.CommandText = "INSERT INTO attempts VALUES ($id, 1, $started, $duration, $outcome, $code, $kind, $error, NULL)";
            var p = new[] { "$id", "$ensemble", "$event", "$key", "$endpoint", "$payload", "$created", "$status", "$code", "$kind", "$error" }.ToDictionary(n => n, n => insert.Parameters.Add(new SqliteParameter(n, null)));
            var a = new[] { "$id", "$started", "$duration", "$outcome", "$code", "$kind", "$error" }.ToDictionary(n => n, n => attempt.Parameters.Add(new SqliteParameter(n, null)));
            for (var i = 0; i < 50_000; i++)
            {
                var n = batch * 50_000 + i;
                var created = Newest.UtcTicks - (long)(random.NextDouble() * span);
                var dead = random.Next(100) < 3;
                var roll = random.Next(100);
                var id = "dlv_" + Guid.CreateVersion7(new DateTimeOffset(created, TimeSpan.Zero)).ToString("N");
                p["$id"].Value = id;
                p["$ensemble"].Value = roll == 0 ? "rare-sync" : roll < 10 ? "billing" : "orders";
                p["$event"].Value = dead ? "execution.failed" : "execution.completed";
                p["$key"].Value = "orders#0";
                p["$endpoint"].Value = roll == 1 ? "https://rare.example.net" : n % 20 == 0 ? "https://audit.example.org" : "https://hooks.example.com";
                p["$payload"].Value = payload;
                p["$created"].Value = created;
                p["$status"].Value = dead ? (int)DeliveryStatus.DeadLettered : (int)DeliveryStatus.Delivered;
                p["$code"].Value = dead ? 410 : 200;
                p["$kind"].Value = dead ? 1 : 0;
                p["$error"].Value = dead ? "HTTP 410 Gone" : DBNull.Value;
                insert.ExecuteNonQuery();
                a["$id"].Value = id;
                a["$started"].Value = created + TimeSpan.TicksPerMillisecond;
                a["$duration"].Value = TimeSpan.FromMilliseconds(20 + random.Next(200)).Ticks;
                a["$outcome"].Value = dead ? (int)AttemptOutcome.Permanent : (int)AttemptOutcome.Delivered;
                a["$code"].Value = dead ? 410 : 200;
                a["$kind"].Value = dead ? 1 : 0;
                a["$error"].Value = dead ? "HTTP 410 Gone" : DBNull.Value;
                attempt.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        Console.WriteLine($"// generated {Deliveries:N0} deliveries in {path} in {clock.Elapsed.TotalSeconds:0} s");
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
