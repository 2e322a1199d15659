namespace Conductor.Sdk.Delivery;

/// <summary>
/// A delivery store in process memory: for tests and for applications that accept losing pending deliveries on a
/// restart. The durable stores (SQLite, the default, and PostgreSQL) implement the same contract.
/// </summary>
/// <remarks>
/// Kept as simple as that use needs: one lock; a map of entries (the current record, its attempts, its lease); the due
/// deliveries in one ordered set per endpoint, so that leasing skips a busy endpoint without walking its backlog; the
/// leases in an ordered set by expiry, so that the deliveries of a worker that stopped become due again.
/// </remarks>
public sealed partial class InMemoryDeliveryStore : IPruningDeliveryStore, IEndpointStateStore
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<Due>> _due = new(StringComparer.Ordinal);
    private readonly SortedSet<Lease> _leases = new(Comparer<Lease>.Create(static (a, b) => a.Until != b.Until ? a.Until.CompareTo(b.Until) : a.Entry.Number.CompareTo(b.Entry.Number)));
    private static readonly IComparer<Due> DueOrder = Comparer<Due>.Create(static (a, b) => a.At != b.At ? a.At.CompareTo(b.At) : a.Sequence.CompareTo(b.Sequence));
    private long _numbers;
    // Deliveries due at the same time go in the order they were scheduled.
    private long _sequence;

    private sealed class Entry(DeliveryRecord record, long number)
    {
        public DeliveryRecord Record = record;
        public readonly long Number = number;
        public Due? Scheduled;
        public DateTimeOffset? LeasedUntil;
        public List<AttemptLog>? Attempts;
    }

    private readonly record struct Due(DateTimeOffset At, long Sequence, Entry Entry);

    private readonly record struct Lease(DateTimeOffset Until, Entry Entry);

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        lock (_gate)
        {
            // The group is checked whole before anything is stored: stored whole or not at all.
            var ids = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < deliveries.Count; i++)
            {
                var record = deliveries[i] ?? throw new ArgumentException($"Delivery {i} of the group is null.", nameof(deliveries));
                if (record.Id is null || record.Endpoint is null)
                {
                    throw new ArgumentException($"Delivery {i} of the group has no {(record.Id is null ? "id" : "endpoint")}.", nameof(deliveries));
                }

                if (_entries.ContainsKey(record.Id) || !ids.Add(record.Id)) throw new InvalidOperationException($"A delivery with id '{record.Id}' is already stored.");
            }

            foreach (var record in deliveries)
            {
                var entry = new Entry(record, ++_numbers);
                _entries.Add(record.Id, entry);
                if (record.Status == DeliveryStatus.Pending) Schedule(entry);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        var result = new List<DeliveryRecord>();
        lock (_gate)
        {
            // Leases that ran out (their worker stopped or stalled) make the delivery due again.
            while (_leases.Count > 0 && _leases.Min.Until <= now)
            {
                var expired = _leases.Min.Entry;
                Unschedule(expired);
                Schedule(expired);
            }

            while (result.Count < max && EarliestDue(skipEndpoints) is { } next && next.At <= now)
            {
                Unschedule(next.Entry);
                next.Entry.LeasedUntil = leaseUntil;
                _leases.Add(new Lease(leaseUntil, next.Entry));
                result.Add(next.Entry.Record);
            }
        }

        return ValueTask.FromResult<IReadOnlyList<DeliveryRecord>>(result);
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        lock (_gate)
        {
            var entry = Find(attempt.DeliveryId);
            Unschedule(entry);
            (entry.Attempts ??= new List<AttemptLog>(1)).Add(attempt);
            entry.Record = entry.Record with
            {
                Status = next,
                Attempts = entry.Record.Attempts + 1,
                DueAt = attempt.NextDueAt ?? entry.Record.DueAt,
                LastStatusCode = attempt.StatusCode,
                LastErrorKind = attempt.ErrorKind,
                LastError = attempt.Error,
                FinishedAt = DeliveryRecord.Finished(attempt, next),
            };
            if (next == DeliveryStatus.Pending) Schedule(entry);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var entry = Find(deliveryId);
            Unschedule(entry);
            entry.Record = entry.Record with { DueAt = dueAt };
            if (entry.Record.Status == DeliveryStatus.Pending) Schedule(entry);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            DateTimeOffset? next = EarliestDue(skipEndpoints)?.At;
            if (_leases.Count > 0 && (next is null || _leases.Min.Until < next)) next = _leases.Min.Until;
            return ValueTask.FromResult(next);
        }
    }

    /// <inheritdoc />
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveryId);
        lock (_gate)
        {
            return ValueTask.FromResult(_entries.TryGetValue(deliveryId, out var entry) ? entry.Record : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        lock (_gate)
        {
            IReadOnlyList<DeliveryRecord> result = _entries.Values.Select(e => e.Record)
                .Where(query.Matches)
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
            var attempts = Find(deliveryId).Attempts;
            return ValueTask.FromResult<IReadOnlyList<AttemptLog>>(attempts is null ? Array.Empty<AttemptLog>() : attempts.ToArray());
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var entry = Find(deliveryId);
            if (entry.Record.Status != DeliveryStatus.DeadLettered) return ValueTask.FromResult(false);
            // A fresh retry budget of the same size, on top of the attempts already made.
            entry.Record = entry.Record with { Status = DeliveryStatus.Pending, DueAt = now, MaxAttempts = entry.Record.Attempts + entry.Record.MaxAttempts, FinishedAt = null };
            Schedule(entry);
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default) =>
        PurgeAsync(createdBefore, null, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, DeliveryStatus? status, CancellationToken cancellationToken = default)
    {
        PurgeStatus.Check(status);
        lock (_gate)
        {
            // Finished deliveries are neither scheduled nor leased: removing them from the map is all.
            var purged = _entries.Values
                .Where(e => e.Record.Status != DeliveryStatus.Pending && (status is null || e.Record.Status == status) && e.Record.CreatedAt < createdBefore)
                .Select(e => e.Record.Id)
                .ToList();
            foreach (var id in purged) _entries.Remove(id);
            return ValueTask.FromResult(purged.Count);
        }
    }

    /// <inheritdoc />
    public ValueTask<int> PruneAsync(DeliveryStatus status, DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken = default)
    {
        PurgeStatus.Check(status);
        lock (_gate)
        {
            var expired = _entries.Values
                .Where(e => e.Record.Status == status && e.Record.FinishedAt is { } finished && finished < finishedBefore)
                .Take(max)
                .Select(e => e.Record.Id)
                .ToList();
            foreach (var id in expired) _entries.Remove(id);
            return ValueTask.FromResult(expired.Count);
        }
    }

    /// <inheritdoc />
    /// <remarks>Nothing is on disk: the size is the payload bytes held in memory.</remarks>
    public ValueTask<long> SizeAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_entries.Values.Sum(e => (long)e.Record.Payload.Length));
        }
    }

    /// <inheritdoc />
    public ValueTask<DeliveryStoreUsage> UsageAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            long pending = 0, delivered = 0, dead = 0, bytes = 0;
            foreach (var entry in _entries.Values)
            {
                bytes += entry.Record.Payload.Length;
                switch (entry.Record.Status)
                {
                    case DeliveryStatus.Pending: pending++; break;
                    case DeliveryStatus.Delivered: delivered++; break;
                    default: dead++; break;
                }
            }

            return ValueTask.FromResult(new DeliveryStoreUsage(pending, delivered, dead, bytes));
        }
    }

    private Entry Find(string deliveryId)
    {
        ArgumentNullException.ThrowIfNull(deliveryId);
        return _entries.TryGetValue(deliveryId, out var entry) ? entry : throw new KeyNotFoundException($"No delivery with id '{deliveryId}' is stored.");
    }

    /// <summary>Makes the entry due at its record's due time (under the lock).</summary>
    private void Schedule(Entry entry)
    {
        if (!_due.TryGetValue(entry.Record.Endpoint, out var set)) _due[entry.Record.Endpoint] = set = new SortedSet<Due>(DueOrder);
        var due = new Due(entry.Record.DueAt, ++_sequence, entry);
        set.Add(due);
        entry.Scheduled = due;
    }

    /// <summary>Takes the entry out of the due order and ends its lease, whichever it is in (under the lock).</summary>
    private void Unschedule(Entry entry)
    {
        if (entry.Scheduled is { } due)
        {
            var set = _due[entry.Record.Endpoint];
            set.Remove(due);
            if (set.Count == 0) _due.Remove(entry.Record.Endpoint);
            entry.Scheduled = null;
        }

        if (entry.LeasedUntil is { } until)
        {
            _leases.Remove(new Lease(until, entry));
            entry.LeasedUntil = null;
        }
    }

    /// <summary>The earliest due delivery over the endpoints not skipped (one look per endpoint), or null.</summary>
    private Due? EarliestDue(IReadOnlyCollection<string>? skipEndpoints)
    {
        Due? best = null;
        foreach (var (endpoint, set) in _due)
        {
            if (skipEndpoints is not null && skipEndpoints.Contains(endpoint)) continue;
            var head = set.Min;
            if (best is null || DueOrder.Compare(head, best.Value) < 0) best = head;
        }

        return best;
    }
}
