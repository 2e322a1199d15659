using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>A store that passes every call to <paramref name="inner"/>; tests override the calls they watch or break.</summary>
public class DelegatingStore(IDeliveryStore inner) : IDeliveryStore
{
    protected IDeliveryStore Inner => inner;

    public virtual ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default) => inner.EnqueueAsync(deliveries, cancellationToken);
    public virtual ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default) => inner.LeaseDueAsync(now, max, leaseUntil, skipEndpoints, cancellationToken);
    public virtual ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default) => inner.NextDueAsync(skipEndpoints, cancellationToken);
    public ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default) => inner.RecordAttemptAsync(attempt, next, cancellationToken);
    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default) => inner.ReleaseAsync(deliveryId, dueAt, cancellationToken);
    public ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default) => inner.GetAsync(deliveryId, cancellationToken);
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => inner.ListAsync(query, cancellationToken);
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => inner.AttemptsAsync(deliveryId, cancellationToken);
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => inner.ReplayAsync(deliveryId, now, cancellationToken);
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default) => inner.PurgeAsync(createdBefore, cancellationToken);
}
