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
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Submit(new PendingWrite(deliveries, null, default, done), cancellationToken);
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

        return new ValueTask(write.Done.Task.WaitAsync(cancellationToken));
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
                    Commit(writes);
                    foreach (var write in writes) Remember(write);
                    foreach (var write in writes) write.Done.TrySetResult();
                }
                catch (Exception ex) when (writes.Count > 1 && OneWriteMayBeAtFault(ex))
                {
                    foreach (var write in writes)
                    {
                        try
                        {
                            Commit(new[] { write });
                            Remember(write);
                            write.Done.TrySetResult();
                        }
                        catch (Exception single)
                        {
                            write.Done.TrySetException(Wrap(single));
                        }
                    }
                }
                catch (Exception ex)
                {
                    foreach (var write in writes) write.Done.TrySetException(Wrap(ex));
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

    private void Commit(IReadOnlyList<PendingWrite> writes)
    {
        // New deliveries are synced to disk before EnqueueAsync returns (synchronous=FULL). Attempt outcomes use
        // NORMAL, which survives a process crash but not a power cut: losing one can only make a delivery be sent
        // again (at-least-once), never lost, and it keeps fsyncs off the delivery path.
        Synchronous(writes.Any(w => w.Deliveries is not null) ? "FULL" : "NORMAL");

        PrepareCommands();
        using var transaction = _connection.BeginTransaction();
        _insert!.Transaction = transaction;
        _log!.Transaction = transaction;
        _update!.Transaction = transaction;
        var (insert, log, update, p, l, u) = (_insert, _log, _update, _p, _l, _u);

        foreach (var write in writes)
        {
            if (write.Deliveries is { } deliveries)
            {
                foreach (var d in deliveries)
                {
                    Bind(p, d);
                    insert.ExecuteNonQuery();
                }
            }
            else if (write.Attempt is { } a)
            {
                l[0].Value = a.DeliveryId; l[1].Value = a.Number; l[2].Value = a.StartedAt.UtcTicks; l[3].Value = a.Duration.Ticks;
                l[4].Value = (int)a.Outcome; l[5].Value = (object?)a.StatusCode ?? DBNull.Value; l[6].Value = (int)a.ErrorKind;
                l[7].Value = (object?)a.Error ?? DBNull.Value; l[8].Value = (object?)a.NextDueAt?.UtcTicks ?? DBNull.Value;
                log.ExecuteNonQuery();
                u[0].Value = (int)write.Next; u[1].Value = (object?)a.NextDueAt?.UtcTicks ?? DBNull.Value; u[2].Value = (object?)a.StatusCode ?? DBNull.Value;
                u[3].Value = (int)a.ErrorKind; u[4].Value = (object?)a.Error ?? DBNull.Value; u[5].Value = a.DeliveryId;
                if (update.ExecuteNonQuery() != 1) throw new KeyNotFoundException($"No delivery with id '{a.DeliveryId}' is stored in {Path}.");
            }
        }

        transaction.Commit();
    }

    private void PrepareCommands()
    {
        if (_insert is not null) return;
        _insert = _connection.CreateCommand();
        _insert.CommandText = InsertSql;
        _p = InsertParameters(_insert);
        _log = _connection.CreateCommand();
        _log.CommandText = "INSERT OR REPLACE INTO attempts VALUES ($id, $number, $started, $duration, $outcome, $status, $kind, $error, $next)";
        _l = new[] { "$id", "$number", "$started", "$duration", "$outcome", "$status", "$kind", "$error", "$next" }
            .Select(name => _log.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
        _update = _connection.CreateCommand();
        _update.CommandText = """
            UPDATE deliveries SET status = $status, attempts = attempts + 1, due_at = COALESCE($next, due_at),
                last_status_code = $code, last_error_kind = $kind, last_error = $error, leased_until = NULL
            WHERE id = $id
            """;
        _u = new[] { "$status", "$next", "$code", "$kind", "$error", "$id" }
            .Select(name => _update.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
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
        if (write.Deliveries is not { } deliveries) return;
        foreach (var d in deliveries)
        {
            if (_fresh.Count >= FreshLimit) return;
            _fresh[d.Id] = d;
        }
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return Submit(new PendingWrite(null, attempt, next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)), cancellationToken);
    }
}
