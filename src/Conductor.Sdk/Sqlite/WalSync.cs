using Microsoft.Win32.SafeHandles;

namespace Conductor.Sdk.Sqlite;

/// <summary>
/// The second half of the SQLite store's group commit: syncs the WAL file to disk, on a thread of its own, and only then
/// completes the enqueues of the groups committed before the sync began. This is the fsync that <c>synchronous=FULL</c>
/// makes inside <c>COMMIT</c>, while the write lock is held. Made here instead, it overlaps the next group's statements,
/// and one sync covers every group committed while the previous one ran.
/// </summary>
internal sealed class WalSync : IDisposable
{
    private readonly string _walPath;
    private readonly Func<Exception, Exception> _failure;
    private readonly object _gate = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<SqliteDeliveryStore.PendingWrite> _waiting = new();
    private Thread? _thread;
    private bool _stopping;
    private SafeFileHandle? _handle;

    /// <summary>Syncs <paramref name="walPath"/>; a failed sync fails its waiters with <paramref name="failure"/>'s exception.</summary>
    public WalSync(string walPath, Func<Exception, Exception> failure)
    {
        _walPath = walPath;
        _failure = failure;
    }

    /// <summary>
    /// Set by the writer once SQLite itself has synced a commit since the store opened the file (with
    /// <c>synchronous=FULL</c>, which also syncs the directory of a WAL file it has just created). Until then the writer
    /// commits new deliveries with FULL.
    /// </summary>
    public bool Ready { get; set; }

    /// <summary>Runs on the sync thread before each sync (tests hold it there).</summary>
    internal Action? BeforeSync { get; set; }

    /// <summary>Completes <paramref name="done"/> after the next sync of the WAL file. Call it after the commit.</summary>
    public void Enqueue(SqliteDeliveryStore.PendingWrite done)
    {
        lock (_gate)
        {
            if (_stopping)
            {
                done.TrySetException(new ObjectDisposedException(nameof(SqliteDeliveryStore), "The SQLite delivery store is closed."));
                return;
            }

            _waiting.Add(done);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "Conductor SQLite WAL sync" };
                _thread.Start();
            }
            else
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    private void Run()
    {
        var batch = new List<SqliteDeliveryStore.PendingWrite>();
        while (true)
        {
            lock (_gate)
            {
                while (_waiting.Count == 0 && !_stopping) Monitor.Wait(_gate);
                if (_waiting.Count == 0) break;
                (batch, _waiting) = (_waiting, batch);
            }

            // Every write in the batch was committed before it was queued, so this one sync covers them all.
            try
            {
                BeforeSync?.Invoke();
                _handle ??= File.OpenHandle(_walPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
                RandomAccess.FlushToDisk(_handle);
                foreach (var done in batch) done.TrySetResult();
            }
            catch (Exception ex)
            {
                // Nothing may escape this thread. The handle is opened afresh for the next sync.
                _handle?.Dispose();
                _handle = null;
                var error = _failure(ex);
                foreach (var done in batch) done.TrySetException(error);
            }

            batch.Clear();
        }

        _stopped.TrySetResult();
    }

    /// <summary>Syncs what is queued, then ends the thread (call it once the writer has stopped).</summary>
    public Task StopAsync()
    {
        lock (_gate)
        {
            _stopping = true;
            if (_thread is null) return Task.CompletedTask;
            Monitor.Pulse(_gate);
        }

        return _stopped.Task;
    }

    /// <inheritdoc />
    public void Dispose() => _handle?.Dispose();
}
