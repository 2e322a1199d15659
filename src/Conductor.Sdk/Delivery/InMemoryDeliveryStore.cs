using Conductor.Sdk.Channels;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// A delivery store in process memory: for tests and for applications that accept losing pending
/// deliveries on a restart. The durable stores (SQLite, PostgreSQL) implement the same contract.
/// </summary>
/// <remarks>
/// A stored delivery is not an object of its own: its fields are a slot in chunked arrays of structs (its first attempt
/// inline), its payload bytes are copied into blocks the store owns and reuses, and an id made by
/// <see cref="DeliveryRecord.NewId"/> is a 128-bit key of a map whose entries are structs too. A burst of thousands of
/// waiting deliveries therefore leaves the garbage collector nothing to promote and copy (before, each one was a record,
/// a payload array, an id string, an entry and a map node, and each delivered one an attempt log as well). Records read
/// or leased from the store are made on the spot, with their own copy of the payload. Purged slots and emptied blocks
/// are reused. Due deliveries are kept in a binary heap per endpoint (an array of slot numbers: a delivery due no
/// earlier than the last one, the usual case, is added in constant time), so leasing costs O(log endpoints + log n) per
/// delivery however many delivered or skipped ones are kept. One lock guards it all; every operation holds it for a
/// few map and heap steps (leasing a batch takes it a few deliveries at a time).
/// </remarks>
public sealed class InMemoryDeliveryStore : IDeliveryStore
{
    private const int None = -1;
    private readonly object _gate = new();
    private readonly Dictionary<DeliveryKey, int> _ids = [];
    private DeliveryKey[] _keys = new DeliveryKey[16];
    // The slots, in chunks of a fixed size: growing adds a chunk instead of copying (and doubling) one array.
    private const int ChunkBits = 10;
    private const int ChunkSize = 1 << ChunkBits;
    private Slot[][] _chunks = [];
    // Payload bytes, copied into blocks the store owns (large-object arrays, reused once every payload in them is purged):
    // a waiting delivery's body is then not an object the garbage collector has to promote and copy, which under a burst
    // of events is most of what the store keeps. Records read from the store get a copy of their payload, so nothing
    // outside ever points into a block, and a block can be reused as soon as the store itself no longer needs it.
    private const int BlockSize = 128 * 1024;
    private const int LargePayload = 16 * 1024;
    // Emptied blocks wait to be reused, up to a few megabytes; beyond that they are left to the collector (their places
    // in the list are reused), so that a burst of a million deliveries does not keep its memory once purged.
    private const int MaxFreeBlocks = 32;
    private readonly List<PayloadBlock?> _blocks = [];
    private readonly Stack<int> _freeBlocks = new();
    private readonly Stack<int> _droppedBlocks = new();
    private int _block = None;
    private int _blockUsed;
    // Slots ever used (the rest of the array is empty), and the first free one of a list threaded through LeaseNext.
    private int _used;
    private int _free = None;
    // Due deliveries per endpoint, and each endpoint's earliest due time, so that leasing can skip busy endpoints cheaply.
    private readonly Dictionary<string, EndpointDue> _due = new(StringComparer.Ordinal);
    // Only kept once there are two endpoints: with one (the common case) its heap's top is the answer, and a lease does
    // not have to move the endpoint in the set every time its earliest due time changes.
    private readonly SortedSet<(DateTimeOffset At, string Id)> _heads = new(HeadComparer.Instance);
    private string? _onlyEndpoint;
    private EndpointDue? _onlyDue;
    // Ties between deliveries due at the same time go to the one scheduled first.
    private long _sequence;
    // Leased slots in order of lease expiry, as a list threaded through the slots: leases are taken at "now + lease
    // duration", so a new one almost always goes at the end, and recording an outcome unlinks it in O(1).
    private int _leaseHead = None;
    private int _leaseTail = None;

    private struct Slot
    {
        // The delivery's fields (a record is made from them when one is read or leased, so that a waiting delivery is not an
        // object of its own); Stored is false while the slot is free.
        public Fields Delivery;
        public bool Leased;
        public DateTimeOffset LeasedUntil;
        public int LeasePrevious;
        public int LeaseNext;
        // In its endpoint's due heap. Taking it out only bumps the version: the heap drops stale items when they reach the top.
        // The version is never reset, not even when the slot is reused, so an old heap item can never match a new delivery.
        public bool Scheduled;
        public int DueVersion;
        // Most deliveries have one attempt: it is kept inline, later ones in a list.
        public FirstAttempt First;
        public List<AttemptLog>? Later;
    }

    /// <summary>A <see cref="DeliveryRecord"/>'s fields without its object.</summary>
    private struct Fields
    {
        public bool Stored;
        public DeliveryKey Id;
        public string Ensemble, Event, NotificationKey, Channel, Endpoint;
        public ReadOnlyMemory<byte> Payload;
        // The payload block the bytes are in, or None when the payload is an array of its own (large, or dead-lettered).
        public int Block;
        public DateTimeOffset CreatedAt, DueAt;
        public DeliveryStatus Status;
        public int Attempts, MaxAttempts;
        public int? LastStatusCode;
        public AttemptErrorKind LastErrorKind;
        public string? LastError;

        public static Fields Of(DeliveryRecord r, DeliveryKey id) => new()
        {
            Stored = true, Id = id, Ensemble = r.Ensemble, Event = r.Event, NotificationKey = r.NotificationKey, Channel = r.Channel, Endpoint = r.Endpoint,
            Payload = r.Payload, Block = None, CreatedAt = r.CreatedAt, DueAt = r.DueAt, Status = r.Status, Attempts = r.Attempts, MaxAttempts = r.MaxAttempts,
            LastStatusCode = r.LastStatusCode, LastErrorKind = r.LastErrorKind, LastError = r.LastError,
        };

        /// <summary>The record, with a copy of the payload if it is kept in a block.</summary>
        public readonly DeliveryRecord ToRecord() =>
            new(Id.ToId(), Ensemble, Event, NotificationKey, Channel, Endpoint, Block == None ? Payload : Payload.ToArray(), CreatedAt, DueAt, Status, Attempts, MaxAttempts,
                LastStatusCode, LastErrorKind, LastError);
    }

    /// <summary>An <see cref="AttemptLog"/>'s fields without its object (the delivery id is the slot's).</summary>
    private readonly record struct FirstAttempt(
        bool Made, int Number, DateTimeOffset StartedAt, TimeSpan Duration, AttemptOutcome Outcome, int? StatusCode,
        AttemptErrorKind ErrorKind, string? Error, DateTimeOffset? NextDueAt)
    {
        public static FirstAttempt Of(AttemptLog log) =>
            new(true, log.Number, log.StartedAt, log.Duration, log.Outcome, log.StatusCode, log.ErrorKind, log.Error, log.NextDueAt);

        public AttemptLog ToLog(string deliveryId) =>
            new(deliveryId, Number, StartedAt, Duration, Outcome, StatusCode, ErrorKind, Error, NextDueAt);
    }

    /// <summary>
    /// A delivery id as a map key: an id made by <see cref="DeliveryRecord.NewId"/> (<c>dlv_</c> and 32 lowercase hex digits)
    /// as its 128-bit value, so that a waiting delivery's id is not a string the garbage collector has to keep and copy
    /// (records read from the store get the string back); any other id as itself.
    /// </summary>
    private readonly record struct DeliveryKey(UInt128 Value, string? Other)
    {
        private const string Prefix = "dlv_";

        public static DeliveryKey Of(string id)
        {
            ArgumentNullException.ThrowIfNull(id);
            var hex = id.AsSpan(Math.Min(id.Length, Prefix.Length));
            Span<byte> bytes = stackalloc byte[16];
            // Upper-case digits (or anything else) keep the id a string, so that the id read back is exactly the one stored.
            if (id.Length != Prefix.Length + 32 || !id.StartsWith(Prefix, StringComparison.Ordinal) || hex.ContainsAnyInRange('A', 'F')
                || Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != 16)
            {
                return new(0, id);
            }

            return new(System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes), null);
        }

        // Both halves go into the hash (a NewId's low bits are random, but other hex ids need not be). Equality without the
        // generated per-field comparers.
        public bool Equals(DeliveryKey other) => Value == other.Value && string.Equals(Other, other.Other, StringComparison.Ordinal);

        public override int GetHashCode() => Other is null ? ((ulong)Value ^ (ulong)(Value >> 64)).GetHashCode() : Other.GetHashCode(StringComparison.Ordinal);

        /// <summary>The ordinal order of the id strings, without making them when both are NewId values (fixed-width hex).</summary>
        public static int CompareOrdinal(DeliveryKey x, DeliveryKey y) =>
            x.Other is null && y.Other is null ? x.Value.CompareTo(y.Value) : string.CompareOrdinal(x.ToId(), y.ToId());

        public string ToId() => Other ?? string.Create(Prefix.Length + 32, Value, static (span, value) =>
        {
            Prefix.AsSpan().CopyTo(span);
            Span<byte> bytes = stackalloc byte[16];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
            Convert.TryToHexStringLower(bytes, span[Prefix.Length..], out _);
        });
    }

    private sealed class PayloadBlock
    {
        public readonly byte[] Bytes = new byte[BlockSize];
        // Stored deliveries whose payload is in this block, and how many were put in since it was last (re)started.
        public int Live;
        public int Filled;
    }

    /// <summary>The due deliveries of one endpoint, earliest first, as slot indices.</summary>
    private sealed class EndpointDue
    {
        public readonly PriorityQueue<(int Slot, int Version), (DateTimeOffset At, long Sequence)> Heap = new(DueOrder.Instance);
        public int Live;
        // The due time this endpoint is listed under in the heads set, if it is.
        public DateTimeOffset? Head;
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

    private sealed class HeadComparer : IComparer<(DateTimeOffset At, string Id)>
    {
        public static readonly HeadComparer Instance = new();

        public int Compare((DateTimeOffset At, string Id) x, (DateTimeOffset At, string Id) y)
        {
            var byTime = x.At.CompareTo(y.At);
            return byTime != 0 ? byTime : string.CompareOrdinal(x.Id, y.Id);
        }
    }

    /// <inheritdoc />
    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        lock (_gate)
        {
            // Everything that can be wrong with a record is checked before anything is stored: the group is stored whole
            // or not at all. (The keys' scratch array is only used under the lock, so one per store will do.)
            if (_keys.Length < deliveries.Count) _keys = new DeliveryKey[Math.Max(deliveries.Count, 2 * _keys.Length)];
            var keys = _keys.AsSpan(0, deliveries.Count);
            for (var i = 0; i < keys.Length; i++)
            {
                var record = deliveries[i] ?? throw new ArgumentException($"Delivery {i} of the group is null.", nameof(deliveries));
                if (record.Id is null || record.Endpoint is null)
                {
                    throw new ArgumentException($"Delivery {i} of the group has no {(record.Id is null ? "id" : "endpoint")}.", nameof(deliveries));
                }

                keys[i] = DeliveryKey.Of(record.Id);
            }

            Span<int> slots = deliveries.Count <= 64 ? stackalloc int[deliveries.Count] : new int[deliveries.Count];
            for (var i = 0; i < deliveries.Count; i++)
            {
                var slot = slots[i] = NewSlot();
                if (!_ids.TryAdd(keys[i], slot))
                {
                    // Take back the ones already added (none is scheduled yet, their payloads are let go).
                    FreeSlot(slot);
                    for (var j = 0; j < i; j++) FreeSlot(slots[j], remove: keys[j]);
                    throw new InvalidOperationException($"A delivery with id '{deliveries[i].Id}' is already stored.");
                }

                ref var delivery = ref At(slot).Delivery;
                delivery = Fields.Of(deliveries[i], keys[i]);
                // The recipients of one notification share one payload: it is kept once.
                if (i > 0 && delivery.Status != DeliveryStatus.DeadLettered && deliveries[i].Payload.Equals(deliveries[i - 1].Payload)
                    && At(slots[i - 1]).Delivery is { Block: not None } previous)
                {
                    delivery.Payload = previous.Payload;
                    delivery.Block = previous.Block;
                    _blocks[previous.Block]!.Live++;
                    _blocks[previous.Block]!.Filled++;
                }
                else
                {
                    Keep(ref delivery);
                }
            }

            for (var i = 0; i < deliveries.Count; i++)
            {
                if (deliveries[i].Status == DeliveryStatus.Pending) AddDue(slots[i]);
            }

            // Ids that are not NewId values are strings: the scratch array does not keep them alive.
            keys.Clear();
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        // Sized on first use: a worker asks again as soon as there is room, and often nothing is due for it.
        List<DeliveryRecord>? result = null;
        lock (_gate)
        {
            // Leases that ran out (their worker crashed or stalled) make the delivery due again.
            while (_leaseHead != None && At(_leaseHead).LeasedUntil <= now)
            {
                var expired = _leaseHead;
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
                    var (slot, _) = due.Heap.Dequeue();
                    At(slot).Scheduled = false;
                    due.Live--;
                    RefreshHead(endpoint, due);
                    Lease(slot, leaseUntil);
                    (result ??= new List<DeliveryRecord>(Math.Clamp(max, 1, 128))).Add(At(slot).Delivery.ToRecord());
                    count++;
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<DeliveryRecord>>(result is null ? Array.Empty<DeliveryRecord>() : result);
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        lock (_gate)
        {
            var slot = Find(attempt.DeliveryId);
            Unschedule(slot);
            ref var entry = ref At(slot);
            if (!entry.First.Made) entry.First = FirstAttempt.Of(attempt);
            else (entry.Later ??= new List<AttemptLog>(2)).Add(attempt);
            ref var delivery = ref entry.Delivery;
            delivery.Status = next;
            delivery.Attempts++;
            delivery.DueAt = attempt.NextDueAt ?? delivery.DueAt;
            delivery.LastStatusCode = attempt.StatusCode;
            delivery.LastErrorKind = attempt.ErrorKind;
            delivery.LastError = attempt.Error;
            if (next == DeliveryStatus.Pending) AddDue(slot);
            // A dead letter may be kept much longer than the deliveries around it: its payload moves out of its block.
            if (next == DeliveryStatus.DeadLettered) OwnArray(ref delivery);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var slot = Find(deliveryId);
            Unschedule(slot);
            ref var entry = ref At(slot);
            entry.Delivery.DueAt = dueAt;
            if (entry.Delivery.Status == DeliveryStatus.Pending) AddDue(slot);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var next = EarliestHead(skipEndpoints)?.At;
            if (_leaseHead != None && (next is null || At(_leaseHead).LeasedUntil < next)) next = At(_leaseHead).LeasedUntil;
            return ValueTask.FromResult(next);
        }
    }

    /// <inheritdoc />
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ArgumentNullException.ThrowIfNull(deliveryId);
            return ValueTask.FromResult(_ids.TryGetValue(DeliveryKey.Of(deliveryId), out var slot) ? At(slot).Delivery.ToRecord() : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        lock (_gate)
        {
            // Matched on the fields; only what is returned is made into records.
            var matches = new List<int>();
            for (var slot = 0; slot < _used; slot++)
            {
                ref var r = ref At(slot).Delivery;
                if (r.Stored
                    && (query.Ensemble is null || r.Ensemble == query.Ensemble)
                    && (query.Event is null || r.Event == query.Event)
                    && (query.Status is null || r.Status == query.Status)
                    && (query.Since is null || r.CreatedAt >= query.Since)) matches.Add(slot);
            }

            IReadOnlyList<DeliveryRecord> result = matches
                .OrderByDescending(slot => At(slot).Delivery.CreatedAt).ThenByDescending(slot => At(slot).Delivery.Id, Comparer<DeliveryKey>.Create(DeliveryKey.CompareOrdinal))
                .Take(query.Limit)
                .Select(slot => At(slot).Delivery.ToRecord())
                .ToList();
            return ValueTask.FromResult(result);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ref var entry = ref At(Find(deliveryId));
            if (!entry.First.Made) return ValueTask.FromResult<IReadOnlyList<AttemptLog>>(Array.Empty<AttemptLog>());
            var attempts = new AttemptLog[1 + (entry.Later?.Count ?? 0)];
            attempts[0] = entry.First.ToLog(deliveryId);
            entry.Later?.CopyTo(attempts, 1);
            return ValueTask.FromResult<IReadOnlyList<AttemptLog>>(attempts);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var slot = Find(deliveryId);
            ref var entry = ref At(slot);
            ref var delivery = ref entry.Delivery;
            if (delivery.Status != DeliveryStatus.DeadLettered) return ValueTask.FromResult(false);
            // A fresh retry budget of the same size, on top of the attempts already made.
            delivery.Status = DeliveryStatus.Pending;
            delivery.DueAt = now;
            delivery.MaxAttempts = delivery.Attempts + delivery.MaxAttempts;
            AddDue(slot);
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
            var purged = 0;
            for (var slot = 0; slot < _used; slot++)
            {
                ref var record = ref At(slot).Delivery;
                if (!record.Stored) continue;
                if (record.Status == DeliveryStatus.Pending || (status is not null && record.Status != status) || record.CreatedAt >= createdBefore) continue;
                // Finished deliveries are neither scheduled nor leased: only the id and the slot are given back.
                FreeSlot(slot, remove: record.Id);
                purged++;
            }

            MoveOutStragglers();
            return ValueTask.FromResult(purged);
        }
    }

    /// <summary>
    /// After a purge, the few deliveries still living in a mostly emptied block (a retry, a slow endpoint's backlog) move to
    /// arrays of their own (recipients sharing a payload keep sharing it), so that a few of them do not keep a whole block:
    /// a block in which fewer than one in eight of the deliveries put into it still live is let go.
    /// </summary>
    private void MoveOutStragglers()
    {
        var current = _block == None ? null : _blocks[_block];
        bool IsSparse(PayloadBlock? block) => block is { Live: > 0 } && block != current && block.Live * 8 < block.Filled;
        if (!_blocks.Any(IsSparse)) return;
        var moved = new Dictionary<(int Block, int Offset), ReadOnlyMemory<byte>>();
        for (var slot = 0; slot < _used; slot++)
        {
            ref var delivery = ref At(slot).Delivery;
            if (!delivery.Stored || delivery.Block == None || !IsSparse(_blocks[delivery.Block])) continue;
            System.Runtime.InteropServices.MemoryMarshal.TryGetArray(delivery.Payload, out var segment);
            var place = (delivery.Block, segment.Offset);
            if (!moved.TryGetValue(place, out var own)) moved[place] = own = delivery.Payload.ToArray();
            Release(delivery.Block);
            delivery.Payload = own;
            delivery.Block = None;
        }
    }

    private ref Slot At(int slot) => ref _chunks[slot >> ChunkBits][slot & (ChunkSize - 1)];

    /// <summary>A free slot, reused or new (a chunk is added when all are full).</summary>
    private int NewSlot()
    {
        if (_free != None)
        {
            var reused = _free;
            _free = At(reused).LeaseNext;
            At(reused).LeaseNext = None;
            return reused;
        }

        if (_used == _chunks.Length * ChunkSize)
        {
            Array.Resize(ref _chunks, _chunks.Length + 1);
            _chunks[^1] = new Slot[ChunkSize];
        }

        At(_used) = new Slot { LeasePrevious = None, LeaseNext = None };
        return _used++;
    }

    /// <summary>Copies a new delivery's payload into the current block (a small one: a large one keeps its own array).</summary>
    private void Keep(ref Fields delivery)
    {
        var length = delivery.Payload.Length;
        // A dead letter stored as such (an import) may be kept long: it keeps an array of its own, as a large payload does.
        if (length > LargePayload || delivery.Status == DeliveryStatus.DeadLettered) return;
        if (_block == None || _blockUsed + length > BlockSize)
        {
            // The block being filled starts over if everything in it was purged meanwhile; otherwise the next one is taken,
            // and the full one is reused once its last delivery is purged.
            if (_block == None || _blocks[_block]!.Live != 0) _block = TakeBlock();
            _blockUsed = 0;
        }

        var block = _blocks[_block]!;
        if (_blockUsed == 0) block.Filled = 0;
        block.Filled++;
        delivery.Payload.Span.CopyTo(block.Bytes.AsSpan(_blockUsed));
        delivery.Payload = block.Bytes.AsMemory(_blockUsed, length);
        delivery.Block = _block;
        _blockUsed += length;
        block.Live++;
    }

    private int TakeBlock()
    {
        if (_freeBlocks.TryPop(out var block)) return block;
        if (_droppedBlocks.TryPop(out block))
        {
            _blocks[block] = new PayloadBlock();
            return block;
        }

        _blocks.Add(new PayloadBlock());
        return _blocks.Count - 1;
    }

    /// <summary>Gives a delivery's payload an array of its own and lets go of its place in a block.</summary>
    private void OwnArray(ref Fields delivery)
    {
        if (delivery.Block == None) return;
        delivery.Payload = delivery.Payload.ToArray();
        Release(delivery.Block);
        delivery.Block = None;
    }

    private void Release(int block)
    {
        // A block nothing lives in is reused, unless it is the one being filled.
        if (--_blocks[block]!.Live == 0 && block != _block) Emptied(block);
    }

    private void Emptied(int block)
    {
        if (_freeBlocks.Count < MaxFreeBlocks)
        {
            _freeBlocks.Push(block);
        }
        else
        {
            _blocks[block] = null;
            _droppedBlocks.Push(block);
        }
    }

    /// <summary>Empties a slot that is neither scheduled nor leased and puts it on the free list (and forgets its id).</summary>
    private void FreeSlot(int slot, DeliveryKey? remove = null)
    {
        if (remove is { } key) _ids.Remove(key);
        ref var entry = ref At(slot);
        if (entry.Delivery.Stored && entry.Delivery.Block != None) Release(entry.Delivery.Block);
        entry = new Slot { DueVersion = entry.DueVersion, LeasePrevious = None, LeaseNext = _free };
        _free = slot;
    }

    private void Unschedule(int slot)
    {
        if (At(slot).Leased) Unlease(slot);
        else RemoveDue(slot);
    }

    /// <summary>Links a leased slot in order of expiry, searching from the end (where a new lease almost always belongs).</summary>
    private void Lease(int slot, DateTimeOffset until)
    {
        var after = _leaseTail;
        while (after != None && At(after).LeasedUntil > until) after = At(after).LeasePrevious;
        ref var entry = ref At(slot);
        entry.Leased = true;
        entry.LeasedUntil = until;
        entry.LeasePrevious = after;
        entry.LeaseNext = after == None ? _leaseHead : At(after).LeaseNext;
        if (entry.LeaseNext == None) _leaseTail = slot;
        else At(entry.LeaseNext).LeasePrevious = slot;
        if (after == None) _leaseHead = slot;
        else At(after).LeaseNext = slot;
    }

    private void Unlease(int slot)
    {
        ref var entry = ref At(slot);
        if (entry.LeasePrevious == None) _leaseHead = entry.LeaseNext;
        else At(entry.LeasePrevious).LeaseNext = entry.LeaseNext;
        if (entry.LeaseNext == None) _leaseTail = entry.LeasePrevious;
        else At(entry.LeaseNext).LeasePrevious = entry.LeasePrevious;
        entry.LeasePrevious = None;
        entry.LeaseNext = None;
        entry.Leased = false;
        entry.LeasedUntil = default;
    }

    private void AddDue(int slot)
    {
        ref var entry = ref At(slot);
        ref var record = ref entry.Delivery;
        if (!_due.TryGetValue(record.Endpoint, out var due)) due = AddEndpoint(record.Endpoint);
        entry.Scheduled = true;
        due.Heap.Enqueue((slot, ++entry.DueVersion), (record.DueAt, ++_sequence));
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

    private void RemoveDue(int slot)
    {
        ref var entry = ref At(slot);
        if (!entry.Scheduled) return;
        entry.Scheduled = false;
        var endpoint = entry.Delivery.Endpoint;
        var due = _due[endpoint];
        due.Live--;
        RefreshHead(endpoint, due);
    }

    private bool IsStale((int Slot, int Version) item) => !At(item.Slot).Scheduled || At(item.Slot).DueVersion != item.Version;

    /// <summary>Drops stale items from the top of an endpoint's heap and lists the endpoint under its new earliest due time.</summary>
    private void RefreshHead(string endpoint, EndpointDue due)
    {
        // Many stale items below a live top (deliveries released or recorded while due) are dropped in one pass.
        if (due.Heap.Count > 64 && due.Heap.Count > 2 * due.Live)
        {
            var live = new List<((int, int), (DateTimeOffset, long))>(due.Live);
            foreach (var item in due.Heap.UnorderedItems)
            {
                if (!IsStale(item.Element)) live.Add((item.Element, item.Priority));
            }

            due.Heap.Clear();
            due.Heap.EnqueueRange(live);
        }

        while (due.Heap.TryPeek(out var top, out _) && IsStale(top)) due.Heap.Dequeue();
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

    private int Find(string id) =>
        _ids.TryGetValue(DeliveryKey.Of(id ?? throw new ArgumentNullException("deliveryId")), out var slot) ? slot : throw new KeyNotFoundException($"No delivery with id '{id}' is stored.");
}
