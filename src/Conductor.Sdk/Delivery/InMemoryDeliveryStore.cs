namespace Conductor.Sdk.Delivery;

/// <summary>
/// A delivery store in process memory: for tests and for applications that accept losing pending
/// deliveries on a restart. The durable stores (SQLite, PostgreSQL) implement the same contract.
/// </summary>
public sealed class InMemoryDeliveryStore : IDeliveryStore
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed class Entry(DeliveryRecord record)
    {
        public DeliveryRecord Record = record;
        public DateTimeOffset? LeasedUntil;
        public readonly List<AttemptLog> Attempts = new();
    }

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var delivery in deliveries)
            {
                if (!_entries.TryAdd(delivery.Id, new Entry(delivery)))
                {
                    throw new InvalidOperationException($"A delivery with id '{delivery.Id}' is already stored.");
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var due = _entries.Values
                .Where(e => e.Record.Status == DeliveryStatus.Pending && e.Record.DueAt <= now && (e.LeasedUntil is null || e.LeasedUntil <= now))
                .OrderBy(e => e.Record.DueAt).ThenBy(e => e.Record.Id, StringComparer.Ordinal)
                .Take(max)
                .ToList();
            foreach (var entry in due) entry.LeasedUntil = leaseUntil;
            return ValueTask.FromResult<IReadOnlyList<DeliveryRecord>>(due.Select(e => e.Record).ToList());
        }
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var entry = Find(attempt.DeliveryId);
            entry.Attempts.Add(attempt);
            entry.LeasedUntil = null;
            entry.Record = entry.Record with
            {
                Status = next,
                Attempts = entry.Record.Attempts + 1,
                DueAt = attempt.NextDueAt ?? entry.Record.DueAt,
                LastStatusCode = attempt.StatusCode,
                LastErrorKind = attempt.ErrorKind,
                LastError = attempt.Error,
            };
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var entry = Find(deliveryId);
            entry.LeasedUntil = null;
            entry.Record = entry.Record with { DueAt = dueAt };
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            DateTimeOffset? next = null;
            foreach (var entry in _entries.Values)
            {
                if (entry.Record.Status != DeliveryStatus.Pending) continue;
                var at = entry.LeasedUntil is { } until && until > entry.Record.DueAt ? until : entry.Record.DueAt;
                if (next is null || at < next) next = at;
            }

            return ValueTask.FromResult(next);
        }
    }

    /// <inheritdoc />
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_entries.TryGetValue(deliveryId, out var entry) ? entry.Record : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<DeliveryRecord> result = _entries.Values.Select(e => e.Record)
                .Where(r => (query.Ensemble is null || r.Ensemble == query.Ensemble)
                            && (query.Event is null || r.Event == query.Event)
                            && (query.Status is null || r.Status == query.Status)
                            && (query.Since is null || r.CreatedAt >= query.Since))
                .OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id, StringComparer.Ordinal)
                .Take(query.Limit)
                .ToList();
            return ValueTask.FromResult(result);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<AttemptLog>>(Find(deliveryId).Attempts.ToList());
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var entry = Find(deliveryId);
            if (entry.Record.Status != DeliveryStatus.DeadLettered) return ValueTask.FromResult(false);
            entry.Record = entry.Record with
            {
                Status = DeliveryStatus.Pending,
                DueAt = now,
                MaxAttempts = entry.Record.Attempts + (entry.Record.MaxAttempts),
            };
            return ValueTask.FromResult(true);
        }
    }

    private Entry Find(string id) =>
        _entries.TryGetValue(id, out var entry) ? entry : throw new KeyNotFoundException($"No delivery with id '{id}' is stored.");
}
