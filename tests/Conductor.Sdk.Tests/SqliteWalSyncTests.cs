using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #18: the SQLite store commits new deliveries with <c>synchronous=NORMAL</c> and syncs the WAL file itself, on
/// its own thread, before it tells the callers they are stored (a pipelined group commit). These tests hold that sync
/// and check the order: committed first, acknowledged only after the sync; the writer carries on meanwhile; a failed
/// sync fails the call with the file's name.
/// </summary>
public sealed class SqliteWalSyncTests : IDisposable
{
    private static readonly DateTimeOffset T0 = DeliveryStoreContractTests.T0;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _directory = new("conductor-walsync");

    private static DeliveryRecord Record(string id) => DeliveryStoreContractTests.Record(id);

    [Fact]
    public async Task New_deliveries_are_acknowledged_only_after_the_WAL_file_is_synced_and_the_writer_goes_on_meanwhile()
    {
        var file = _directory.File("deliveries.db");
        await using var store = new SqliteDeliveryStore(file);
        var syncs = 0;
        store.BeforeWalSync = () => Interlocked.Increment(ref syncs);
        // The first group after opening is committed with synchronous=FULL: SQLite syncs it (and a new WAL file's directory) itself.
        await store.EnqueueAsync(new[] { Record("first") });
        Assert.Equal(0, Volatile.Read(ref syncs));

        using var entered = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        store.BeforeWalSync = () =>
        {
            Interlocked.Increment(ref syncs);
            entered.Release();
            release.Wait(Patience);
        };

        var second = store.EnqueueAsync(new[] { Record("second") }).AsTask();
        Assert.True(await entered.WaitAsync(Patience), "the WAL file was never synced");
        // Held in the sync: the row is committed (another connection reads it), but the caller has not been told.
        Assert.Equal(1, Count(file, "second"));
        Assert.False(second.IsCompleted);

        // The writer is not held by the sync: an outcome is written and acknowledged, and a further group is committed.
        await store.RecordAttemptAsync(new AttemptLog("first", 1, T0, TimeSpan.FromMilliseconds(5), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered)
            .AsTask().WaitAsync(Patience);
        var third = store.EnqueueAsync(new[] { Record("third") }).AsTask();
        await WaitUntilAsync(() => Count(file, "third") == 1);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);

        release.Set();
        await second.WaitAsync(Patience);
        await third.WaitAsync(Patience);
        // "third" was committed while the first sync ran, so a second sync covered it.
        Assert.Equal(2, Volatile.Read(ref syncs));
        Assert.Equal(DeliveryStatus.Delivered, (await store.GetAsync("first"))!.Status);
    }

    [Fact]
    public async Task A_failed_WAL_sync_fails_the_call_with_the_file_and_the_next_sync_works_again()
    {
        var file = _directory.File("deliveries.db");
        await using var store = new SqliteDeliveryStore(file);
        await store.EnqueueAsync(new[] { Record("first") });
        store.BeforeWalSync = () => throw new IOException("Input/output error");

        var error = await Assert.ThrowsAsync<Conductor.Sdk.Delivery.DeliveryStoreUnavailableException>(() => store.EnqueueAsync(new[] { Record("second") }).AsTask().WaitAsync(Patience));
        Assert.Contains(file, error.Message);
        Assert.Contains("could not sync its WAL file", error.Message);
        Assert.Contains("Input/output error", error.Message);

        store.BeforeWalSync = null;
        await store.EnqueueAsync(new[] { Record("third") }).AsTask().WaitAsync(Patience);
        Assert.Equal(1, Count(file, "third"));
    }

    private static long Count(string file, string id)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM deliveries WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return (long)command.ExecuteScalar()!;
    }

    private static Task WaitUntilAsync(Func<bool> condition) => WorkerProcess.WaitUntilAsync(condition, Patience, "the condition");

    public void Dispose() => _directory.Dispose();
}
