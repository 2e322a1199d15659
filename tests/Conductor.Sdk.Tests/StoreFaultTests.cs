using System.Collections.Concurrent;
using System.Diagnostics;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #19 point 2: the default SQLite store when its disk or file misbehaves — a directory that cannot be made, a
/// corrupt file, a read-only file system, another process holding the write lock, a full disk. Each fault ends in an
/// error that names the file and what to do, within a bounded time, and no delivery that Notify accepted is lost.
/// The disk faults use a small tmpfs mounted by the test (CI runs as root).
/// </summary>
[Collection("store faults")]
public sealed class StoreFaultTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new("conductor-faults");
    private readonly ConcurrentDictionary<string, int> _arrived = new();

    [Fact]
    public async Task A_missing_directory_is_created()
    {
        var file = Path.Combine(_directory.Path, "a", "b", "deliveries.db");
        await using var receiver = await StartReceiverAsync();
        await using var pipeline = Create(receiver, file);
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        Assert.True(File.Exists(file));
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "missing directory: created, delivery stored and sent", "created and delivered");
    }

    [Fact]
    public async Task A_directory_that_cannot_be_made_stops_start_up_with_the_path_and_the_reason()
    {
        var blocker = _directory.File("App_Data");
        await File.WriteAllTextAsync(blocker, "a file where the store's directory should be");
        var file = Path.Combine(blocker, "conductor-deliveries.db");

        var error = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(() => StartHostAsync(file));
        output.WriteLine(error.Message);
        Assert.Contains(blocker, error.Message);
        Assert.Contains("directory", error.Message);
        Assert.Equal("a file where the store's directory should be", await File.ReadAllTextAsync(blocker));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "directory cannot be made: start-up fails naming the directory", Summary(error));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    public async Task A_corrupt_file_stops_start_up_and_is_left_as_it_was(string damage)
    {
        var file = _directory.File("deliveries.db");
        if (damage == "garbage")
        {
            var bytes = new byte[64 * 1024];
            new Random(19).NextBytes(bytes);
            await File.WriteAllBytesAsync(file, bytes);
        }
        else
        {
            // A real store cut short, as a bad copy would leave it: the header claims pages that are not there.
            await using (var receiver = await StartReceiverAsync())
            await using (var pipeline = Create(receiver, file))
            {
                for (var i = 0; i < 50; i++) await pipeline.CompletedAsync(id: $"exec-{i}");
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            var whole = await File.ReadAllBytesAsync(file);
            await File.WriteAllBytesAsync(file, whole[..(whole.Length / 2)]);
            foreach (var side in new[] { file + "-wal", file + "-shm" }) File.Delete(side);
        }

        var before = await File.ReadAllBytesAsync(file);
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(() => StartHostAsync(file));
        output.WriteLine(error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"start-up took {clock.Elapsed} to fail");
        Assert.Contains(file, error.Message);
        Assert.Contains("corrupt", error.Message);
        Assert.Contains("move it aside", error.Message);
        Assert.Equal(before, await File.ReadAllBytesAsync(file));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "corrupt file: start-up fails naming the file, file left untouched", $"failed in {clock.ElapsedMilliseconds} ms, file unchanged: {Summary(error)}", damage);
    }

    [Fact]
    public async Task A_read_only_file_system_stops_start_up_and_loses_nothing_accepted()
    {
        using var disk = ScratchDisk.Mount(8 * 1024);
        var file = Path.Combine(disk.Path, "deliveries.db");
        await using var receiver = await StartReceiverAsync();
        string accepted;
        await using (var pipeline = Create(receiver, file))
        {
            accepted = (await pipeline.CompletedAsync(id: "before")).DeliveryIds.Single();
        }

        // (A file system cannot be remounted read-only while the store has its files open for writing.)
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        disk.ReadOnly(true);
        // Starting on a read-only file system fails at start-up, before anything is accepted.
        var startError = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(() => StartHostAsync(file));
        output.WriteLine(startError.Message);
        Assert.Contains(file, startError.Message);
        Assert.Contains("read-only", startError.Message);

        disk.ReadOnly(false);
        await using (var pipeline = Create(receiver, file))
        {
            await pipeline.Processor.RunDueAsync();
            Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(accepted)).Status);
            Assert.Single(await pipeline.Store.ListAsync(new DeliveryQuery(Limit: 10)));
        }

        Assert.Equal(new[] { accepted }, _arrived.Keys);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "read-only file system: start-up fails naming the file; accepted delivery sent once writable", $"{Summary(startError)}; 1 of 1 accepted delivered");
    }

    [Fact]
    public async Task A_full_disk_fails_Notify_with_the_reason_and_loses_nothing_accepted()
    {
        using var disk = ScratchDisk.Mount(2 * 1024);
        var file = Path.Combine(disk.Path, "deliveries.db");
        await using var receiver = await StartReceiverAsync();
        await using var pipeline = Create(receiver, file);
        var accepted = new List<string>();
        for (var i = 0; i < 20; i++) accepted.AddRange((await pipeline.CompletedAsync(id: $"before-{i}")).DeliveryIds);

        var filler = disk.Fill();
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(async () =>
        {
            // The WAL may still have room for a few pages: keep notifying until the disk really is full.
            for (var i = 0; i < 1000; i++) accepted.AddRange((await pipeline.CompletedAsync(id: $"filling-{i}")).DeliveryIds);
        });
        output.WriteLine($"{error.Message} (after {accepted.Count} accepted, {clock.ElapsedMilliseconds} ms)");
        Assert.Contains(file, error.Message);
        Assert.Contains("disk is full", error.Message);

        // Leasing writes too: the worker's next round fails the same way (its loop logs it and tries again a second later).
        var leaseError = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(() => pipeline.Processor.RunDueAsync());
        Assert.Contains("disk is full", leaseError.Message);

        File.Delete(filler);
        accepted.AddRange((await pipeline.CompletedAsync(id: "after")).DeliveryIds);
        pipeline.Time.Advance(TimeSpan.FromMinutes(10));
        await pipeline.Processor.RunDueAsync();
        foreach (var id in accepted) Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
        Assert.Equal(accepted.Count, (await pipeline.Store.ListAsync(new DeliveryQuery(Limit: 10_000))).Count);
        output.WriteLine($"{accepted.Count} accepted, all delivered; {_arrived.Count(p => p.Value > 1)} sent twice because their outcome could not be written");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "full disk (2 MB tmpfs): Notify and leasing fail naming the cause; nothing accepted is lost",
            $"Notify failed after {clock.ElapsedMilliseconds} ms: {Summary(error)}; {accepted.Count} accepted, {accepted.Count} delivered once space was freed");
    }

    [Fact]
    public async Task A_file_locked_by_another_process_fails_Notify_after_the_busy_timeout_and_recovers()
    {
        var file = _directory.File("deliveries.db");
        await using var receiver = await StartReceiverAsync();
        await using var pipeline = Create(receiver, file);
        var accepted = (await pipeline.CompletedAsync(id: "before")).DeliveryIds.Single();
        TimeSpan waited;

        using (var holder = WorkerProcess.StartRaw($"lock \"{file}\"", "locked"))
        {
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(async () => await pipeline.CompletedAsync(id: "while-locked"));
            output.WriteLine($"{error.Message} (after {clock.ElapsedMilliseconds} ms)");
            waited = clock.Elapsed;
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30));
            Assert.Contains(file, error.Message);
            Assert.Contains("locked by another", error.Message);

            // The worker's lease fails the same way; the loop survives it.
            await Assert.ThrowsAsync<DeliveryStoreUnavailableException>(() => pipeline.Processor.RunDueAsync());
            holder.StandardInput.Close();
            await holder.WaitForExitAsync();
        }

        var after = (await pipeline.CompletedAsync(id: "after")).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(accepted)).Status);
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(after)).Status);
        Assert.Equal(new[] { accepted, after }.Order(), _arrived.Keys.Order());
        Conductor.Sdk.Testing.ReliabilityResults.Record("Store faults", "write lock held by another process: Notify fails after the 5 s busy timeout, then recovers", $"failed after {waited.TotalSeconds:0.0} s; both accepted deliveries sent after release");
    }

    /// <summary>The first sentence of an error's advice, for the results table.</summary>
    private static string Summary(Exception error) => System.Text.RegularExpressions.Regex.Replace(error.Message.Split(". ")[0], @"(/[^/\s]+)+/", "");

    private Task<Receiver> StartReceiverAsync() => Receiver.StartAsync((request, _) =>
    {
        _arrived.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1);
        return Reply.Status(200);
    });

    private static Pipeline Create(Receiver receiver, string file) =>
        Pipeline.Create(new[] { Webhook(receiver) }, store: () => new SqliteDeliveryStore(file));

    private static WebhookNotificationDefinition Webhook(Receiver receiver) =>
        new("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "fault-secret" }, 3, TimeSpan.FromSeconds(5));

    /// <summary>Starts a host the way an application does (AddConductor, the SQLite store at <paramref name="file"/>).</summary>
    private static async Task StartHostAsync(string file)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddConductor().UseSqlite(file);
        using var host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();
    }

    public void Dispose() => _directory.Dispose();
}
