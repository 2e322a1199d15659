using Conductor.Sdk.Delivery;
using Microsoft.Data.Sqlite;

namespace Conductor.Sdk.Sqlite;

/// <summary>Writes: new deliveries (group-committed, or with the application's transaction) and attempt outcomes.</summary>
public sealed partial class SqliteDeliveryStore
{
    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0) return ValueTask.CompletedTask;
        return Submit(RentWrite().Set(deliveries, null, default, null, null), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask EnqueueLeasedAsync(IReadOnlyList<DeliveryRecord> deliveries, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0) return ValueTask.CompletedTask;
        return Submit(RentWrite().Set(deliveries, null, default, leaseUntil.UtcTicks, null), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The transaction must be on a <see cref="SqliteConnection"/> to this store's file. SQLite has one writer at a time:
    /// while the application's transaction is open, the worker's own writes wait for it (up to <see cref="BusyTimeout"/>).
    /// </remarks>
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, System.Data.Common.DbTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction is not SqliteTransaction { Connection: { } connection } sqlite)
        {
            throw new InvalidOperationException(
                $"The SQLite delivery store {Path} can only join a SQLite transaction (Microsoft.Data.Sqlite), not a {transaction.GetType().Name}.");
        }

        var file = string.IsNullOrEmpty(connection.DataSource) ? string.Empty : System.IO.Path.GetFullPath(connection.DataSource);
        if (!string.Equals(file, Path, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"The transaction is on the SQLite file '{file}', but the delivery store is {Path}: a transaction cannot span two files. " +
                "Point the store at the application's database with UseSqlite(path).");
        }

        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            using var insert = connection.CreateCommand();
            insert.Transaction = sqlite;
            insert.CommandText = InsertSql;
            var p = InsertParameters(insert);
            foreach (var d in deliveries)
            {
                Bind(p, d);
                insert.ExecuteNonQuery();
            }
        }
        catch (SqliteException ex)
        {
            throw Wrap(ex);
        }

        return ValueTask.CompletedTask;
    }

    private ValueTask Submit(PendingWrite write, CancellationToken cancellationToken)
    {
        if (!_pending.Writer.TryWrite(write))
        {
            throw new ObjectDisposedException(nameof(SqliteDeliveryStore), "The SQLite delivery store is closed; nothing more can be stored.");
        }

        return write.AsValueTask(cancellationToken);
    }

    /// <summary>
    /// Writes everything waiting at the time (enqueues and attempt outcomes) in one transaction, then completes it
    /// all: one durable commit for many writes. If the group fails, each write is retried alone, so one bad write
    /// (a duplicate id) fails only its own caller.
    /// </summary>
    private async Task FlushLoopAsync()
    {
        var reader = _pending.Reader;
        var writes = new List<PendingWrite>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            writes.Clear();
            while (writes.Count < 2048 && reader.TryRead(out var write)) writes.Add(write);
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                try
                {
                    var synced = Commit(writes);
                    foreach (var write in writes) Remember(write);
                    foreach (var write in writes) Complete(write, synced);
                }
                catch (Exception ex) when (writes.Count > 1 && OneWriteMayBeAtFault(ex))
                {
                    foreach (var write in writes)
                    {
                        try
                        {
                            var synced = Commit(new[] { write });
                            Remember(write);
                            Complete(write, synced);
                        }
                        catch (Exception single)
                        {
                            write.TrySetException(Wrap(single));
                        }
                    }
                }
                catch (Exception ex)
                {
                    foreach (var write in writes) write.TrySetException(Wrap(ex));
                }
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>
    /// Whether a failed group may have failed because of one of its writes (an unknown or duplicate id), so that writing
    /// them one by one isolates it. A full disk, a lock held elsewhere or a corrupt file fails them all alike; retrying
    /// each would only multiply the wait.
    /// </summary>
    private static bool OneWriteMayBeAtFault(Exception ex) =>
        ex is KeyNotFoundException || (ex is SqliteException sqlite && sqlite.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */);

    /// <summary>
    /// Writes the group in one transaction. Returns true when SQLite itself synced it to disk (<c>synchronous=FULL</c>);
    /// otherwise its new deliveries wait for <see cref="WalSync"/> before their callers are told they are stored.
    /// </summary>
    private bool Commit(IReadOnlyList<PendingWrite> writes)
    {
        // New deliveries are on disk before EnqueueAsync returns. The first group after the file is opened is committed
        // with synchronous=FULL, so that SQLite syncs the WAL file and, if it just created it, its directory entry. Later
        // groups commit with NORMAL and the WAL file is then synced by WalSync, on its own thread, before their callers
        // are completed: the same fsync that FULL makes inside COMMIT, made outside the write lock, so that the next
        // group's statements run while the disk syncs (pipelined group commit). Attempt outcomes need no sync: losing
        // one in a power cut can only make a delivery be sent again (at-least-once), never lost.
        var full = !_walSync.Ready && writes.Any(w => w.Deliveries is not null);
        Synchronous(full ? "FULL" : "NORMAL");

        PrepareCommands();
        using var transaction = _connection.BeginTransaction();
        var (insert, log, update) = (_insert!, _log!, _update!);

        foreach (var write in writes)
        {
            if (write.Deliveries is { } deliveries)
            {
                // Indexed: a foreach over the interface would box an enumerator per write.
                for (var i = 0; i < deliveries.Count; i++)
                {
                    var d = deliveries[i];
                    insert.Text(1, d.Id); insert.Text(2, d.Ensemble); insert.Text(3, d.Event); insert.Text(4, d.NotificationKey);
                    insert.Text(5, d.Channel); insert.Text(6, d.Endpoint); insert.Blob(7, d.Payload.Span);
                    insert.Int(8, d.CreatedAt.UtcTicks); insert.Int(9, d.DueAt.UtcTicks); insert.Int(10, (int)d.Status);
                    insert.Int(11, d.Attempts); insert.Int(12, d.MaxAttempts); insert.TextOrNull(13, d.TraceParent); insert.Int(14, write.LeaseUntil);
                    insert.Run();
                }
            }
            else if (write.Attempt is { } a)
            {
                log.Text(1, a.DeliveryId); log.Int(2, a.Number); log.Int(3, a.StartedAt.UtcTicks); log.Int(4, a.Duration.Ticks);
                log.Int(5, (int)a.Outcome); log.Int(6, a.StatusCode); log.Int(7, (int)a.ErrorKind);
                log.TextOrNull(8, a.Error); log.Int(9, a.NextDueAt?.UtcTicks);
                log.Run();
                update.Int(1, (int)write.Next); update.Int(2, a.NextDueAt?.UtcTicks); update.Int(3, a.StatusCode);
                update.Int(4, (int)a.ErrorKind); update.TextOrNull(5, a.Error); update.Text(6, a.DeliveryId);
                update.Int(7, DeliveryRecord.Finished(a, write.Next)?.UtcTicks);
                if (update.Run() != 1) throw new KeyNotFoundException($"No delivery with id '{a.DeliveryId}' is stored in {Path}.");
            }
            else if (write.Prune is { } prune)
            {
                prune.Deleted = Prune(prune);
            }
        }

        transaction.Commit();
        if (full) _walSync.Ready = true;
        return full;
    }

    /// <summary>Completes a committed write: at once, unless it holds new deliveries that SQLite did not sync.</summary>
    private void Complete(PendingWrite write, bool synced)
    {
        if (write.Deliveries is null || synced) write.TrySetResult();
        else _walSync.Enqueue(write);
    }

    private void PrepareCommands()
    {
        if (_insert is not null) return;
        _insert = new SqliteStatement(_connection, $"INSERT INTO deliveries ({Columns}, leased_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, 0, NULL, ?13, ?14)");
        _log = new SqliteStatement(_connection, "INSERT OR REPLACE INTO attempts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        _update = new SqliteStatement(_connection, """
            UPDATE deliveries SET status = ?1, attempts = attempts + 1, due_at = COALESCE(?2, due_at),
                last_status_code = ?3, last_error_kind = ?4, last_error = ?5, leased_until = NULL, finished_at = ?7
            WHERE id = ?6
            """);
    }

    private const string InsertSql =
        $"INSERT INTO deliveries ({Columns}, leased_until) VALUES ($id, $ensemble, $event, $key, $channel, $endpoint, $payload, $created, $due, $status, $attempts, $max, NULL, 0, NULL, $trace, NULL)";

    private static SqliteParameter[] InsertParameters(SqliteCommand insert) =>
        new[] { "$id", "$ensemble", "$event", "$key", "$channel", "$endpoint", "$payload", "$created", "$due", "$status", "$attempts", "$max", "$trace" }
            .Select(name => insert.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();

    private static void Bind(SqliteParameter[] p, DeliveryRecord d)
    {
        p[0].Value = d.Id; p[1].Value = d.Ensemble; p[2].Value = d.Event; p[3].Value = d.NotificationKey;
        p[4].Value = d.Channel; p[5].Value = d.Endpoint; p[6].Value = WholeArray(d.Payload);
        p[7].Value = d.CreatedAt.UtcTicks; p[8].Value = d.DueAt.UtcTicks; p[9].Value = (int)d.Status;
        p[10].Value = d.Attempts; p[11].Value = d.MaxAttempts; p[12].Value = (object?)d.TraceParent ?? DBNull.Value;
    }

    /// <summary>The payload's array itself when the memory spans all of it (the usual case), else a copy.</summary>
    private static byte[] WholeArray(ReadOnlyMemory<byte> payload) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(payload, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : payload.ToArray();

    /// <summary>After a commit (under the gate): new deliveries are kept for their first lease.</summary>
    private void Remember(PendingWrite write)
    {
        // Leased ones were handed to the processor; only a lease query returns the others.
        if (write.Deliveries is not { } deliveries || write.LeaseUntil is not null) return;
        for (var i = 0; i < deliveries.Count; i++)
        {
            var d = deliveries[i];
            if (_fresh.Count >= FreshLimit) return;
            _fresh[d.Id] = d;
        }
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return Submit(RentWrite().Set(null, attempt, next, null, null), cancellationToken);
    }
}
