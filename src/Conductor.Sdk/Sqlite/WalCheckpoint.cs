using Microsoft.Data.Sqlite;

namespace Conductor.Sdk.Sqlite;

/// <summary>
/// Checkpoints the SQLite store's WAL file on a connection and task of their own, instead of inside a commit. SQLite's
/// automatic checkpoint runs in the connection that commits, while it holds the write lock: it copies every page of the
/// WAL into the database file and syncs both files, so the group commit behind it (and every Notify in that group) waits
/// several milliseconds. A passive checkpoint here needs no write lock: groups keep committing while it runs.
/// </summary>
internal sealed class WalCheckpoint : IAsyncDisposable
{
    /// <summary>Commits between two background checkpoints.</summary>
    public const int Every = 32;

    /// <summary>
    /// WAL frames (pages) past which the writer finishes the job itself, once, under its lock: by then the background
    /// checkpoints have copied nearly everything, so it copies the rest quickly, and the WAL file starts over from its
    /// beginning at the next write (a passive checkpoint that runs while groups keep committing rarely gets to the end).
    /// </summary>
    public const int ResetFrames = 4_000;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _commits;
    private int _frames;

    public WalCheckpoint(string connectionString)
    {
        _connectionString = connectionString;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>The last checkpoint's error, if it failed (the next one tries again; SQLite's data is never at risk).</summary>
    public Exception? LastFailure { get; private set; }

    /// <summary>
    /// Called by the writer after each commit, under its lock. Every <see cref="Every"/> commits it wakes the background
    /// checkpoint; when the WAL has grown past <see cref="ResetFrames"/>, it checkpoints on <paramref name="writer"/>.
    /// </summary>
    public void Committed(SqliteConnection writer)
    {
        if (++_commits % Every != 0) return;
        if (Volatile.Read(ref _frames) >= ResetFrames)
        {
            Volatile.Write(ref _frames, Checkpoint(writer).Log);
            return;
        }

        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already woken.
            }
        }
    }

    /// <summary>A passive checkpoint on <paramref name="connection"/>: the frames in the WAL, and how many of them are now in the database file.</summary>
    private static (int Log, int Copied) Checkpoint(SqliteConnection connection)
    {
        var rc = SQLitePCL.raw.sqlite3_wal_checkpoint_v2(connection.Handle, "main", SQLitePCL.raw.SQLITE_CHECKPOINT_PASSIVE, out var log, out var copied);
        if (rc != SQLitePCL.raw.SQLITE_OK && rc != SQLitePCL.raw.SQLITE_BUSY) SqliteException.ThrowExceptionForRC(rc, connection.Handle);
        return (log, copied);
    }

    private async Task LoopAsync()
    {
        SqliteConnection? connection = null;
        try
        {
            while (true)
            {
                await _wake.WaitAsync(_stop.Token).ConfigureAwait(false);
                try
                {
                    if (connection is null)
                    {
                        connection = new SqliteConnection(_connectionString);
                        connection.Open();
                        using var setup = connection.CreateCommand();
                        setup.CommandText = "PRAGMA synchronous=NORMAL;";
                        setup.ExecuteNonQuery();
                    }

                    Volatile.Write(ref _frames, Checkpoint(connection).Log);
                    LastFailure = null;
                }
                catch (SqliteException ex)
                {
                    LastFailure = ex;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            connection?.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _wake.Dispose();
    }
}
