using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Durability with real processes: a worker is killed in mid-flight and a new one, on the same SQLite file,
/// finishes the work. Nothing is lost; receivers may see a delivery twice (at-least-once), never zero times.
/// </summary>
[Collection("postgresql")]
public sealed class KillRestartTests(ITestOutputHelper output, PostgreSqlCluster cluster) : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "conductor-kill-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task Deliveries_survive_a_killed_worker(string kind)
    {
        var count = 1000 * Conductor.Sdk.Testing.ReliabilityResults.Scale;
        var seen = new ConcurrentDictionary<string, int>();
        var delivered = new ConcurrentDictionary<string, byte>();
        await using var receiver = await Receiver.StartAsync((request, _) =>
        {
            var id = request.Header("X-Conductor-Delivery-Id");
            // Every delivery fails its first attempt, so the work spans retries when the worker dies.
            if (seen.AddOrUpdate(id, 1, (_, n) => n + 1) == 1) return Reply.Status(500);
            delivered.TryAdd(id, 0);
            return Reply.Status(200);
        });

        Directory.CreateDirectory(_directory);
        var connection = kind == "postgresql" ? cluster.CreateDatabase() : null;
        var storePath = connection is null ? Path.Combine(_directory, "deliveries.db") : "postgresql:" + connection;
        IDeliveryStore OpenStore() => connection is null ? new SqliteDeliveryStore(storePath) : new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(connection);
        var notification = KillTest.Notification(receiver.Url());
        var ids = Enumerable.Range(0, count).Select(i => $"dlv_kill_{i:D4}").ToArray();
        var store = OpenStore();
        await using (store as IAsyncDisposable)
        {
            var now = DateTimeOffset.UtcNow;
            await store.EnqueueAsync(ids.Select(id => new DeliveryRecord(id, "kill-test", "execution.completed", notification.Key, "webhook", notification.Endpoint,
                Encoding.UTF8.GetBytes($"{{\"event\":\"execution.completed\",\"data\":{{\"id\":\"{id}\"}}}}"), now, now, DeliveryStatus.Pending, 0, notification.Retries + 1)).ToList());
        }

        using (var first = WorkerProcess.Start(storePath, receiver.Url()))
        {
            // Kill it while retries are under way: all first attempts done, some retries sent, some not.
            await WorkerProcess.WaitUntilAsync(() => seen.Values.Sum() >= count + 200, TimeSpan.FromSeconds(60), "the first worker to get well into the retries", () => $"{seen.Values.Sum()} requests, {delivered.Count} delivered; worker exited: {first.HasExited}");
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
        }

        var beforeRestart = delivered.Count;
        output.WriteLine($"killed after {seen.Values.Sum()} requests, {beforeRestart} delivered");
        Assert.InRange(beforeRestart, 1, count - 1);

        using (var second = WorkerProcess.Start(storePath, receiver.Url()))
        {
            await WorkerProcess.WaitUntilAsync(() => delivered.Count == count, TimeSpan.FromSeconds(90 * Conductor.Sdk.Testing.ReliabilityResults.Scale), "every delivery to reach the receiver");
            var reader = OpenStore();
            await using var readerLifetime = reader as IAsyncDisposable;
            await WorkerProcess.WaitUntilAsync(async () => (await reader.ListAsync(new DeliveryQuery(Status: DeliveryStatus.Delivered, Limit: count))).Count == count,
                TimeSpan.FromSeconds(30), "every delivery to be marked delivered");
            second.Kill(entireProcessTree: true);
            await second.WaitForExitAsync();
        }

        Assert.Equal(ids.OrderBy(i => i), delivered.Keys.OrderBy(i => i));
        Assert.All(ids, id => Assert.True(seen[id] >= 2));
        output.WriteLine($"{seen.Values.Sum()} requests in all; {seen.Count(p => p.Value > 2)} deliveries were attempted more than twice (at-least-once)");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Crash", $"worker killed (SIGKILL) in mid-retry with {count:N0} deliveries: 0 lost after restart", $"killed after {beforeRestart} delivered; 0 lost; {seen.Count(p => p.Value > 2)} attempted more than twice", kind);
    }

    /// <summary>
    /// Issue #19 point 1: the process is killed (SIGKILL) while it is still calling Notify and delivering. Every delivery
    /// whose Notify had returned before the kill reaches the receiver once a new worker runs; duplicates are counted.
    /// </summary>
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task Deliveries_accepted_by_Notify_survive_a_kill_during_Notify(string kind)
    {
        const int Count = 1000;
        var seen = new ConcurrentDictionary<string, int>();
        await using var receiver = await Receiver.StartAsync((request, _) =>
        {
            seen.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1);
            return Reply.Status(200);
        });

        Directory.CreateDirectory(_directory);
        var storePath = kind == "postgresql" ? "postgresql:" + cluster.CreateDatabase() : Path.Combine(_directory, "deliveries.db");
        // One kill in CI; CONDUCTOR_SOAK=N kills N processes in turn, each at a different point, on the same store.
        var cycles = Conductor.Sdk.Testing.ReliabilityResults.Scale;
        var random = new Random(1019);
        var accepted = new ConcurrentQueue<string>();
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            var before = accepted.Count;
            var killAt = before + (cycles == 1 ? Count / 2 : random.Next(Count / 10, Count * 9 / 10));
            using var first = WorkerProcess.Start(storePath, receiver.Url(), $"notify {Count}");
            var reading = Task.Run(async () =>
            {
                while (await first.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (line.StartsWith("accepted ", StringComparison.Ordinal)) accepted.Enqueue(line["accepted ".Length..]);
                }
            });
            await WorkerProcess.WaitUntilAsync(() => accepted.Count >= killAt, TimeSpan.FromSeconds(60), "events to be accepted", () => $"{accepted.Count - before} accepted; worker exited: {first.HasExited}");
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
            await reading;
            Assert.InRange(accepted.Count - before, killAt - before, Count - 1);
        }

        var acceptedIds = accepted.ToHashSet();
        output.WriteLine($"{cycles} kill(s) after {acceptedIds.Count} accepted Notify calls in all; {seen.Count} deliveries had arrived");
        Assert.Equal(accepted.Count, acceptedIds.Count);

        using (var second = WorkerProcess.Start(storePath, receiver.Url()))
        {
            await WorkerProcess.WaitUntilAsync(() => acceptedIds.All(seen.ContainsKey), TimeSpan.FromSeconds(90 * Conductor.Sdk.Testing.ReliabilityResults.Scale), "every accepted delivery to reach the receiver",
                () => $"{acceptedIds.Count(id => !seen.ContainsKey(id))} of {acceptedIds.Count} missing");
            second.Kill(entireProcessTree: true);
            await second.WaitForExitAsync();
        }

        var duplicates = seen.Count(p => p.Value > 1);
        output.WriteLine($"{acceptedIds.Count} accepted, 0 lost, {seen.Count - acceptedIds.Count} stored but not yet acknowledged at the kill and delivered anyway, {duplicates} delivered twice or more");
        Assert.DoesNotContain(acceptedIds, id => !seen.ContainsKey(id));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Crash", "process killed (SIGKILL) while calling Notify: every delivery Notify accepted arrives after restart",
            $"{cycles} kill(s): {acceptedIds.Count} accepted, 0 lost, {seen.Count - acceptedIds.Count} more stored before the kill, {duplicates} duplicates", kind);
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}
