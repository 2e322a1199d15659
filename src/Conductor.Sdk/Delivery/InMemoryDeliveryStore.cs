namespace Conductor.Sdk.Delivery;

/// <summary>
/// A delivery store in process memory: for tests and for applications that accept losing pending
/// deliveries on a restart. The durable stores (SQLite, PostgreSQL) implement the same contract.
/// Due deliveries are kept in a binary heap per endpoint (an array, so a backlog of thousands stays compact in memory,
/// and a delivery due no earlier than the last one, the usual case, is added in constant time), so leasing costs
/// O(log endpoints + log n) per delivery however many delivered or skipped ones are kept.
/// </summary>
/// <remarks>
/// Enqueuing takes no lock: a delivery is stored (readable, listed, unique) as soon as it is in the concurrent map,
/// and joins the due sets the next time the scheduling lock is taken. Callers that enqueue from many threads at
/// once (every request of a web application) therefore never queue behind the worker leasing or recording outcomes.
/// </remarks>
public sealed class InMemoryDeliveryStore : IDeliveryStore
{
    private readonly object _gate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    // Stored but not yet in the due sets: moved there, in order, under the lock by whoever schedules next.
    private readonly System.Collections.Concurrent.ConcurrentQueue<Entry> _incoming = new();
    // Due deliveries per endpoint, and each endpoint's earliest due time, so that leasing can skip busy endpoints cheaply.
    private readonly Dictionary<string, EndpointDue> _due = new(StringComparer.Ordinal);
    // Only kept once there are two endpoints: with one (the common case) its heap's top is the answer, and a lease does
    // not have to move the endpoint in the set every time its earliest due time changes.
    private readonly SortedSet<(DateTimeOffset At, string Id)> _heads = new(SlotComparer.Instance);
    private string? _onlyEndpoint;
    private EndpointDue? _onlyDue;
    // Ties between deliveries due at the same time go to the one scheduled first.
    private long _sequence;
    // Leased entries in order of lease expiry, as a list threaded through the entries: leases are taken at "now +
    // lease duration", so a new one almost always goes at the end, and recording an outcome unlinks it in O(1).
    private Entry? _leaseHead;
    private Entry? _leaseTail;

    private sealed class Entry(DeliveryRecord record)
    {
        public DeliveryRecord Record = record;
        public DateTimeOffset? LeasedUntil;
        // Stored and waiting in the incoming queue to join the due sets.
        public bool Incoming;
        public Entry? LeasePrevious;
        public Entry? LeaseNext;
        // Most deliveries have one attempt: it is kept inline, later ones in a list.
        public AttemptLog? FirstAttempt;
        public List<AttemptLog>? LaterAttempts;
        // In its endpoint's due heap. Taking it out only bumps the version: the heap drops stale items when they reach the top.
        public bool Scheduled;
        public int DueVersion;
    }

    /// <summary>The due deliveries of one endpoint, earliest first.</summary>
    private sealed class EndpointDue
    {
        public readonly PriorityQueue<(Entry Entry, int Version), (DateTimeOffset At, long Sequence)> Heap = new(DueOrder.Instance);
        public int Live;
        // The due time this endpoint is listed under in the heads set, if it is.
        public DateTimeOffset? Head;

        public static bool IsStale((Entry Entry, int Version) item) => !item.Entry.Scheduled || item.Entry.DueVersion != item.Version;
    }

    private sealed class DueOrder : IComparer<(DateTimeOffset At, long Sequence)>
    {
        public static readonly DueOrder Instance = new();

        public int Compare((DateTimeOffset At, long Sequence) x, (DateTimeOffset At, long Sequence) y)
        {
            var byTime = x.At.CompareTo(y.At);
            return byTime != 0 ? byTime : x.Sequence.CompareTo(y.Sequence);
        }
    }

    private sealed class SlotComparer : IComparer<(DateTimeOffset At, string Id)>
    {
        public static readonly SlotComparer Instance = new();

        public int Compare((DateTimeOffset At, string Id) x, (DateTimeOffset At, string Id) y)
        {
            var byTime = x.At.CompareTo(y.At);
            return byTime != 0 ? byTime : string.CompareOrdinal(x.Id, y.Id);
        }
    }

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        // Allocated before taking the lock, which every attempt's outcome also needs: it is held for as little as possible.
        var entries = new Entry[deliveries.Count];
        for (var i = 0; i < entries.Length; i++) entries[i] = new Entry(deliveries[i]) { Incoming = deliveries[i].Status == DeliveryStatus.Pending };
        for (var i = 0; i < entries.Length; i++)
        {
            if (!_entries.TryAdd(entries[i].Record.Id, entries[i]))
            {
                // The group is stored whole or not at all: take back the ones already added (none is scheduled yet).
                for (var j = 0; j < i; j++) _entries.TryRemove(entries[j].Record.Id, out _);
                throw new InvalidOperationException($"A delivery with id '{entries[i].Record.Id}' is already stored.");
            }
        }

        foreach (var entry in entries)
        {
            if (entry.Incoming) _incoming.Enqueue(entry);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        // Sized on first use: a worker asks again as soon as there is room, and often nothing is due for it.
        List<DeliveryRecord>? result = null;
        // New deliveries join the due sets first (a few hundred per lock), so the oldest due is leased first.
        // Bounded by what was queued on entry, so that steady enqueuing cannot keep a lease call here.
        for (var pending = _incoming.Count; pending > 0; pending -= 256)
        {
            lock (_gate) DrainIncoming(256);
        }

        lock (_gate)
        {
            // Leases that ran out (their worker crashed or stalled) make the delivery due again.
            while (_leaseHead is { } expired && expired.LeasedUntil <= now)
            {
                Unlease(expired);
                AddDue(expired);
            }
        }

        // A batch is taken a few deliveries per lock, so that outcomes being recorded meanwhile do not queue behind it.
        const int PerLock = 16;
        var more = true;
        var count = 0;
        while (more && count < max)
        {
            lock (_gate)
            {
                for (var taken = 0; taken < PerLock && count < max; taken++)
                {
                    if (NextHead(now, skipEndpoints) is not { } endpoint)
                    {
                        more = false;
                        break;
                    }

                    var due = _due[endpoint];
                    // The top is live: every change that makes an item stale clears the top of stale items.
                    var (entry, _) = due.Heap.Dequeue();
                    entry.Scheduled = false;
                    due.Live--;
                    RefreshHead(endpoint, due);
                    Lease(entry, leaseUntil);
                    (result ??= new List<DeliveryRecord>(Math.Clamp(max, 1, 128))).Add(entry.Record);
                    count++;
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<DeliveryRecord>>(result is null ? Array.Empty<DeliveryRecord>() : result);
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        var entry = Find(attempt.DeliveryId);
        lock (_gate)
        {
            if (entry.Incoming) DrainIncoming();
            // Visible but not yet queued (its enqueue is still running): the change below schedules it; the drain must not.
            entry.Incoming = false;
            Unschedule(entry);
            if (entry.FirstAttempt is null) entry.FirstAttempt = attempt;
            else (entry.LaterAttempts ??= new List<AttemptLog>(2)).Add(attempt);
            entry.Record = Updated(entry.Record, attempt, next);
            if (next == DeliveryStatus.Pending) AddDue(entry);
        }

        return ValueTask.CompletedTask;
    }

    private static DeliveryRecord Updated(DeliveryRecord record, AttemptLog attempt, DeliveryStatus next) => record with
    {
        Status = next,
        Attempts = record.Attempts + 1,
        DueAt = attempt.NextDueAt ?? record.DueAt,
        LastStatusCode = attempt.StatusCode,
        LastErrorKind = attempt.ErrorKind,
        LastError = attempt.Error,
    };

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        var entry = Find(deliveryId);
        lock (_gate)
        {
            if (entry.Incoming) DrainIncoming();
            // Visible but not yet queued (its enqueue is still running): the change below schedules it; the drain must not.
            entry.Incoming = false;
            Unschedule(entry);
            entry.Record = entry.Record with { DueAt = dueAt };
            if (entry.Record.Status == DeliveryStatus.Pending) AddDue(entry);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            DrainIncoming();
            var next = EarliestHead(skipEndpoints)?.At;
            if (_leaseHead?.LeasedUntil is { } leaseEnds && (next is null || leaseEnds < next)) next = leaseEnds;
            return ValueTask.FromResult(next);
        }
    }

    /// <inheritdoc />
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        // No lock: the map is concurrent and a record is replaced, never changed, so a read sees one whole version.
        return ValueTask.FromResult(_entries.TryGetValue(deliveryId, out var entry) ? entry.Record : null);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<DeliveryRecord> result = _entries.Select(e => e.Value.Record)
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
            var entry = Find(deliveryId);
            if (entry.FirstAttempt is null) return ValueTask.FromResult<IReadOnlyList<AttemptLog>>(Array.Empty<AttemptLog>());
            var attempts = new AttemptLog[1 + (entry.LaterAttempts?.Count ?? 0)];
            attempts[0] = entry.FirstAttempt;
            entry.LaterAttempts?.CopyTo(attempts, 1);
            return ValueTask.FromResult<IReadOnlyList<AttemptLog>>(attempts);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            DrainIncoming();
            var entry = Find(deliveryId);
            if (entry.Record.Status != DeliveryStatus.DeadLettered) return ValueTask.FromResult(false);
            // A fresh retry budget of the same size, on top of the attempts already made.
            entry.Record = entry.Record with
            {
                Status = DeliveryStatus.Pending,
                DueAt = now,
                MaxAttempts = entry.Record.Attempts + entry.Record.MaxAttempts,
            };
            AddDue(entry);
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
            var old = _entries.Select(e => e.Value)
                .Where(e => e.Record.Status != DeliveryStatus.Pending && (status is null || e.Record.Status == status) && e.Record.CreatedAt < createdBefore)
                .Select(e => e.Record.Id)
                .ToList();
            foreach (var id in old) _entries.TryRemove(id, out _);
            return ValueTask.FromResult(old.Count);
        }
    }

    /// <summary>Moves newly stored deliveries into the due sets (called under the lock before anything reads or changes them).</summary>
    private void DrainIncoming(int max = int.MaxValue)
    {
        for (var moved = 0; moved < max && _incoming.TryDequeue(out var entry); moved++)
        {
            // An entry a change already took over (it drained, or cleared the flag) is scheduled by that change.
            if (!entry.Incoming) continue;
            entry.Incoming = false;
            AddDue(entry);
        }
    }

    private void Unschedule(Entry entry)
    {
        if (entry.LeasedUntil is not null)
        {
            Unlease(entry);
        }
        else
        {
            RemoveDue(entry);
        }
    }

    /// <summary>Links a leased entry in order of expiry, searching from the end (where a new lease almost always belongs).</summary>
    private void Lease(Entry entry, DateTimeOffset until)
    {
        entry.LeasedUntil = until;
        var after = _leaseTail;
        while (after is not null && after.LeasedUntil > until) after = after.LeasePrevious;
        entry.LeasePrevious = after;
        entry.LeaseNext = after is null ? _leaseHead : after.LeaseNext;
        if (entry.LeaseNext is null) _leaseTail = entry;
        else entry.LeaseNext.LeasePrevious = entry;
        if (after is null) _leaseHead = entry;
        else after.LeaseNext = entry;
    }

    private void Unlease(Entry entry)
    {
        if (entry.LeasePrevious is null) _leaseHead = entry.LeaseNext;
        else entry.LeasePrevious.LeaseNext = entry.LeaseNext;
        if (entry.LeaseNext is null) _leaseTail = entry.LeasePrevious;
        else entry.LeaseNext.LeasePrevious = entry.LeasePrevious;
        entry.LeasePrevious = null;
        entry.LeaseNext = null;
        entry.LeasedUntil = null;
    }

    private void AddDue(Entry entry)
    {
        var record = entry.Record;
        if (!_due.TryGetValue(record.Endpoint, out var due)) due = AddEndpoint(record.Endpoint);
        entry.Scheduled = true;
        due.Heap.Enqueue((entry, ++entry.DueVersion), (record.DueAt, ++_sequence));
        due.Live++;
        // Due no later than the current head: the endpoint keeps its place in the heads set.
        if (due.Head is { } head && head <= record.DueAt) return;
        SetHead(record.Endpoint, due, record.DueAt);
    }

    private EndpointDue AddEndpoint(string endpoint)
    {
        var due = _due[endpoint] = new EndpointDue();
        if (_due.Count == 1)
        {
            (_onlyEndpoint, _onlyDue) = (endpoint, due);
            return due;
        }

        if (_onlyDue is { } first)
        {
            // A second endpoint: from now on the heads set orders them.
            if (first.Head is { } at) _heads.Add((at, _onlyEndpoint!));
            (_onlyEndpoint, _onlyDue) = (null, null);
        }

        return due;
    }

    private void SetHead(string endpoint, EndpointDue due, DateTimeOffset? head)
    {
        if (_onlyDue is null)
        {
            if (due.Head is { } old) _heads.Remove((old, endpoint));
            if (head is { } now) _heads.Add((now, endpoint));
        }

        due.Head = head;
    }

    private void RemoveDue(Entry entry)
    {
        if (!entry.Scheduled) return;
        entry.Scheduled = false;
        var endpoint = entry.Record.Endpoint;
        var due = _due[endpoint];
        due.Live--;
        RefreshHead(endpoint, due);
    }

    /// <summary>Drops stale items from the top of an endpoint's heap and lists the endpoint under its new earliest due time.</summary>
    private void RefreshHead(string endpoint, EndpointDue due)
    {
        // Many stale items below a live top (deliveries released or recorded while due) are dropped in one pass.
        if (due.Heap.Count > 64 && due.Heap.Count > 2 * due.Live)
        {
            var live = new List<((Entry, int), (DateTimeOffset, long))>(due.Live);
            foreach (var item in due.Heap.UnorderedItems)
            {
                if (!EndpointDue.IsStale(item.Element)) live.Add((item.Element, item.Priority));
            }

            due.Heap.Clear();
            due.Heap.EnqueueRange(live);
        }

        while (due.Heap.TryPeek(out var top, out _) && EndpointDue.IsStale(top)) due.Heap.Dequeue();
        DateTimeOffset? head = due.Heap.TryPeek(out _, out var first) ? first.At : null;
        if (head != due.Head) SetHead(endpoint, due, head);

        // An endpoint whose heap ran empty keeps it (and its array): the next burst for it does not grow one again.
    }

    /// <summary>The endpoint whose earliest due delivery is the oldest one due at <paramref name="now"/>, skipping busy endpoints.</summary>
    private string? NextHead(DateTimeOffset now, IReadOnlyCollection<string>? skip) =>
        EarliestHead(skip) is { } head && head.At <= now ? head.Endpoint : null;

    /// <summary>The endpoint with the earliest due delivery, skipping busy endpoints, and that delivery's due time.</summary>
    private (string Endpoint, DateTimeOffset At)? EarliestHead(IReadOnlyCollection<string>? skip)
    {
        var skipping = skip is { Count: > 0 };
        if (_onlyDue is { } only)
        {
            return only.Head is { } at && !(skipping && skip!.Contains(_onlyEndpoint!)) ? (_onlyEndpoint!, at) : null;
        }

        if (_heads.Count == 0) return null;
        // The first head usually is the answer: walking the set allocates, its minimum does not.
        var first = _heads.Min;
        if (!(skipping && skip!.Contains(first.Id))) return (first.Id, first.At);
        foreach (var head in _heads)
        {
            if (skip!.Contains(head.Id)) continue;
            return (head.Id, head.At);
        }

        return null;
    }

    private Entry Find(string id) =>
        _entries.TryGetValue(id, out var entry) ? entry : throw new KeyNotFoundException($"No delivery with id '{id}' is stored.");
}
