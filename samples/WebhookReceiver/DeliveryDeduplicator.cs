using Microsoft.Extensions.Options;

namespace WebhookReceiver;

/// <summary>Settings of <see cref="DeliveryDeduplicator"/> (section <c>WebhookReceiver:Deduplication</c>).</summary>
public sealed class DeduplicationOptions
{
    /// <summary>The most delivery ids remembered; beyond it the oldest is forgotten first.</summary>
    public int Capacity { get; set; } = 100_000;

    /// <summary>
    /// How long an id is remembered. Conductor's retries of one delivery span under 8 minutes (1 s, 5 s, 30 s, 2 min,
    /// 5 min); a day also covers a dead letter replayed by an operator the same day.
    /// </summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromDays(1);
}

/// <summary>
/// Remembers the <c>X-Conductor-Delivery-Id</c> of accepted deliveries so that a retry of one is acknowledged without
/// being processed again. It is an in-memory store, bounded in size (<see cref="DeduplicationOptions.Capacity"/>,
/// oldest first out) and in time (<see cref="DeduplicationOptions.Expiry"/>, read from the injected
/// <see cref="TimeProvider"/>). Being in memory, it forgets everything on restart and is not shared between instances:
/// for that, record the id in your database with a unique key, in the same transaction as the work.
/// </summary>
public sealed class DeliveryDeduplicator
{
    private readonly TimeProvider _time;
    private readonly int _capacity;
    private readonly TimeSpan _expiry;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LinkedListNode<(string Id, DateTimeOffset ExpiresAt)>> _seen = new(StringComparer.Ordinal);

    // In arrival order, so the head is both the oldest and the first to expire.
    private readonly LinkedList<(string Id, DateTimeOffset ExpiresAt)> _order = new();

    /// <summary>Creates the store; the settings are checked here so that a bad value fails at start-up.</summary>
    public DeliveryDeduplicator(TimeProvider time, IOptions<DeduplicationOptions> options)
    {
        var settings = options.Value;
        if (settings.Capacity < 1) throw new ArgumentException($"WebhookReceiver:Deduplication:Capacity must be at least 1 (it is {settings.Capacity}).", nameof(options));
        if (settings.Expiry <= TimeSpan.Zero) throw new ArgumentException($"WebhookReceiver:Deduplication:Expiry must be positive (it is {settings.Expiry}).", nameof(options));
        _time = time;
        _capacity = settings.Capacity;
        _expiry = settings.Expiry;
    }

    /// <summary>The number of ids remembered now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                RemoveExpired(_time.GetUtcNow());
                return _seen.Count;
            }
        }
    }

    /// <summary>Records <paramref name="deliveryId"/>; false when it was already recorded and has not expired.</summary>
    public bool TryBegin(string deliveryId)
    {
        ArgumentException.ThrowIfNullOrEmpty(deliveryId);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            RemoveExpired(now);
            if (_seen.ContainsKey(deliveryId)) return false;
            while (_seen.Count >= _capacity) Remove(_order.First!);
            _seen[deliveryId] = _order.AddLast((deliveryId, now + _expiry));
            return true;
        }
    }

    /// <summary>Forgets <paramref name="deliveryId"/>, for a delivery that was recorded but could not be accepted after all.</summary>
    public void Forget(string deliveryId)
    {
        lock (_gate)
        {
            if (_seen.TryGetValue(deliveryId, out var node)) Remove(node);
        }
    }

    private void RemoveExpired(DateTimeOffset now)
    {
        while (_order.First is { } oldest && oldest.Value.ExpiresAt <= now) Remove(oldest);
    }

    private void Remove(LinkedListNode<(string Id, DateTimeOffset ExpiresAt)> node)
    {
        _order.Remove(node);
        _seen.Remove(node.Value.Id);
    }
}
