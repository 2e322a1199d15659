using System.Collections.Concurrent;
using Conductor.Sdk.Delivery;

/// <summary>
/// Diagnostic (--queue-only-store): the least a store can do — a FIFO of due deliveries and nothing recorded — to
/// measure how much of the pipeline's cost is the in-memory store itself. Not a store: it keeps no history.
/// </summary>
internal sealed class QueueOnlyStore : IDeliveryStore
{
    private readonly ConcurrentQueue<DeliveryRecord> _due = new();

    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        foreach (var delivery in deliveries) _due.Enqueue(delivery);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
    {
        var result = new List<DeliveryRecord>();
        if (skipEndpoints is { Count: > 0 }) return ValueTask.FromResult<IReadOnlyList<DeliveryRecord>>(result);
        while (result.Count < max && _due.TryDequeue(out var delivery)) result.Add(delivery);
        return ValueTask.FromResult<IReadOnlyList<DeliveryRecord>>(result);
    }

    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<DateTimeOffset?>(!_due.IsEmpty && skipEndpoints is not { Count: > 0 } ? DateTimeOffset.MinValue : null);

    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default) => ValueTask.FromResult(0);
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, DeliveryStatus? status, CancellationToken cancellationToken = default) => ValueTask.FromResult(0);
}
