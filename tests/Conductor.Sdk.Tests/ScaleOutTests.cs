using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #21 point 3: three worker processes share one PostgreSQL store (samples/ScaleOut). One is killed (SIGKILL)
/// while its attempts are in flight. Every delivery arrives at least once, no delivery is ever attempted by two
/// processes at the same time, and the dead process's leases are taken over only once they have expired.
/// </summary>
[Collection("postgresql")]
public sealed class ScaleOutTests(ITestOutputHelper output, PostgreSqlCluster cluster)
{
    private sealed record Request(string Id, string Worker, long Started, long Finished);

    [Fact]
    public async Task A_killed_worker_loses_nothing_and_its_leases_are_taken_over_after_they_expire()
    {
        const int Count = 600;
        var inFlight = new ConcurrentDictionary<string, int>();
        var overlaps = new ConcurrentBag<string>();
        var requests = new ConcurrentQueue<Request>();
        var busy = new ConcurrentDictionary<string, int>();
        var unanswered = new ConcurrentDictionary<(string Id, string Worker), byte>();
        // The victim's requests get no answer once it is chosen: the dead process then cannot have recorded any outcome for
        // them, whatever the timing of the kill. They are released (without an answer) once it has exited.
        string? frozen = null;
        using var release = new CancellationTokenSource();
        var delivered = new ConcurrentDictionary<string, byte>();
        var clock = Stopwatch.StartNew();
        await using var receiver = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => app.Run(async context =>
        {
            var id = context.Request.Headers["X-Conductor-Delivery-Id"].ToString();
            var worker = context.Request.Headers["X-Worker"].ToString();
            var started = clock.ElapsedTicks;
            if (inFlight.AddOrUpdate(id, 1, (_, n) => n + 1) > 1) overlaps.Add(id);
            busy.AddOrUpdate(worker, 1, (_, n) => n + 1);
            unanswered[(id, worker)] = 0;
            try
            {
                // A receiver that takes a moment, so that the killed process has attempts in flight.
                await Task.Delay(200, context.RequestAborted);
                if (Volatile.Read(ref frozen) == worker)
                {
                    using var either = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, release.Token);
                    await Task.Delay(Timeout.Infinite, either.Token);
                }

                context.Response.StatusCode = 200;
                unanswered.TryRemove((id, worker), out _);
                delivered.TryAdd(id, 0);
            }
            catch (OperationCanceledException)
            {
                // The sender went away mid-request (the killed worker), or the test released a frozen request.
                context.Abort();
            }
            finally
            {
                busy.AddOrUpdate(worker, 0, (_, n) => n - 1);
                inFlight.AddOrUpdate(id, 0, (_, n) => n - 1);
                requests.Enqueue(new Request(id, worker, started, clock.ElapsedTicks));
            }
        }));

        var connection = cluster.CreateDatabase();
        var notification = KillTest.Notification(receiver.Url());
        await using (var store = new PostgreSqlDeliveryStore(connection))
        {
            var now = DateTimeOffset.UtcNow;
            await store.EnqueueAsync(Enumerable.Range(0, Count).Select(i => new DeliveryRecord($"dlv_scale_{i:D4}", "kill-test", "execution.completed", notification.Key, "webhook",
                notification.Endpoint, Encoding.UTF8.GetBytes("{}"), now, now, DeliveryStatus.Pending, 0, notification.Retries + 1)).ToList());
        }

        var workers = Enumerable.Range(0, 3).Select(_ => WorkerProcess.Start("postgresql:" + connection, receiver.Url())).ToList();
        try
        {
            await WorkerProcess.WaitUntilAsync(() => delivered.Count >= Count / 3, TimeSpan.FromSeconds(60), "a third of the deliveries");
            // The victim is a worker with attempts in flight right now.
            await WorkerProcess.WaitUntilAsync(() => workers.Any(w => busy.GetValueOrDefault(w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)) >= 2),
                TimeSpan.FromSeconds(30), "a worker with attempts in flight");
            var victim = workers.MaxBy(w => busy.GetValueOrDefault(w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)))!;
            var victimId = victim.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Volatile.Write(ref frozen, victimId);
            var killedAt = clock.ElapsedTicks;
            victim.Kill(entireProcessTree: true);
            await victim.WaitForExitAsync();
            var candidates = unanswered.Keys.Where(k => k.Worker == victimId).Select(k => k.Id).ToList();
            // What the dead process's leases say, read before they can expire (5 s).
            var leasedUntil = await LeasesAsync(connection, candidates);
            await release.CancelAsync();
            var held = candidates;
            output.WriteLine($"killed worker {victimId} after {delivered.Count} deliveries with {held.Count} attempts in flight");
            Assert.NotEmpty(held);

            await WorkerProcess.WaitUntilAsync(() => delivered.Count == Count, TimeSpan.FromSeconds(90), "every delivery",
                () => $"{delivered.Count} of {Count}");

            // Taken over: each delivery the dead process held was attempted again by a live worker, and only after its lease
            // expired (leased_until is wall-clock ticks; the receiver's times are converted to the same clock).
            var startedAt = DateTimeOffset.UtcNow - TimeSpan.FromTicks((long)(clock.ElapsedTicks * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
            foreach (var id in held)
            {
                var retry = requests.Where(r => r.Id == id && r.Worker != victimId).OrderBy(r => r.Started).FirstOrDefault();
                Assert.True(retry is not null, $"{id}, held by the dead worker, was not attempted again");
                var retriedAt = startedAt + TimeSpan.FromTicks((long)(retry!.Started * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
                Assert.True(retriedAt.UtcTicks >= leasedUntil[id] - TimeSpan.TicksPerMillisecond * 50,
                    $"{id} was taken over at {retriedAt:O}, before its lease ended at {new DateTimeOffset(leasedUntil[id], TimeSpan.Zero):O}");
            }

            var takeover = held.Select(id => requests.Where(r => r.Id == id && r.Worker != victimId).Min(r => r.Started) - killedAt).Select(t => t * 1000.0 / Stopwatch.Frequency).ToList();
            output.WriteLine($"taken over {takeover.Min():0} to {takeover.Max():0} ms after the kill (lease 5 s)");
            Assert.Empty(overlaps);
            Assert.Equal(Count, delivered.Count);
            var duplicates = requests.GroupBy(r => r.Id).Count(g => g.Count() > 1);
            Conductor.Sdk.Testing.ReliabilityResults.Record("Scale-out", "3 worker processes on one PostgreSQL, one killed mid-flight: all delivered, no concurrent attempts, leases taken over after expiry",
                $"{held.Count} in flight at the kill, taken over {takeover.Min() / 1000:0.0}-{takeover.Max() / 1000:0.0} s later (lease 5 s); {Count} delivered, {duplicates} sent twice, 0 overlaps");
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited) worker.Kill(entireProcessTree: true);
                worker.Dispose();
            }
        }
    }

    private static async Task<Dictionary<string, long>> LeasesAsync(string connection, List<string> ids)
    {
        await using var data = NpgsqlDataSource.Create(connection);
        await using var command = data.CreateCommand("SELECT id, leased_until FROM conductor_deliveries WHERE id = ANY(@ids)");
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var result = new Dictionary<string, long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) result[reader.GetString(0)] = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
        return result;
    }
}
