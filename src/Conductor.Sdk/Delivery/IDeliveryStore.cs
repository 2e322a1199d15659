namespace Conductor.Sdk.Delivery;

/// <summary>
/// Where deliveries live between <c>Notify</c> and their last attempt. Retries are rows with a due time,
/// not sleeps in memory, so a durable implementation resumes them after a restart.
/// </summary>
/// <remarks>
/// Await each returned <see cref="ValueTask"/> once (or call <c>AsTask()</c> once), as with any value task: the SQLite
/// store reuses the object behind a write's task once its caller has the result.
/// </remarks>
public interface IDeliveryStore
{
    /// <summary>
    /// Stores new deliveries. When the returned task completes they are persisted (as far as the
    /// implementation persists anything): <c>Notify</c> returns only after this.
    /// </summary>
    ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes up to <paramref name="max"/> pending deliveries due at <paramref name="now"/>, oldest first, and hides them
    /// from other workers until <paramref name="leaseUntil"/>; a lease that expires (a crashed worker) makes them due
    /// again. Deliveries to <paramref name="skipEndpoints"/> (endpoints this worker cannot take more of right now) are
    /// left in place, so a receiver with a backlog never blocks the deliveries behind it.
    /// </summary>
    ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default);

    /// <summary>Records an attempt and moves the delivery on: delivered, pending again at <see cref="AttemptLog.NextDueAt"/>, or dead-lettered.</summary>
    ValueTask RecordAttemptAsync(AttemptLog attempt, DeliveryStatus next, CancellationToken cancellationToken = default);

    /// <summary>Gives a leased delivery back without an attempt (its endpoint was busy or its breaker open).</summary>
    ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default);

    /// <summary>
    /// The earliest time at which something becomes leasable: a pending delivery's due time (ignoring
    /// <paramref name="skipEndpoints"/>) or a lease's expiry; null when nothing waits.
    /// </summary>
    ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default);

    /// <summary>One delivery, or null.</summary>
    ValueTask<DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Deliveries matching a filter, newest first.</summary>
    ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>The attempts of one delivery, in order.</summary>
    ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Makes a dead-lettered delivery pending again, due at <paramref name="now"/>, with a fresh retry budget. False if it is not dead-lettered.</summary>
    ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Deletes delivered and dead-lettered deliveries (and their attempts) created before <paramref name="createdBefore"/>; pending ones are kept. Returns how many were deleted.</summary>
    ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="PurgeAsync(DateTimeOffset, CancellationToken)"/>, limited to one finished <paramref name="status"/>
    /// (delivered or dead-lettered; null for both). Pending deliveries are never purged.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="status"/> is <see cref="DeliveryStatus.Pending"/>.</exception>
    /// <exception cref="NotSupportedException">The store only purges both statuses together (stores written before this overload).</exception>
    ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, DeliveryStatus? status, CancellationToken cancellationToken = default) =>
        status is null
            ? PurgeAsync(createdBefore, cancellationToken)
            : throw new NotSupportedException($"{GetType().Name} cannot purge by status; purge without a status, or use a store that supports it (SQLite, PostgreSQL, in-memory).");

    /// <summary>
    /// The attempts made since <paramref name="since"/> (whenever their delivery was created: the retries of an outage
    /// count), newest first, at most <paramref name="limit"/>: what the dashboard's charts (attempts per minute by
    /// outcome, latency per endpoint) read. The default reads the attempts of recently created deliveries, delivery by
    /// delivery; the bundled stores answer with one query over the attempts by time.
    /// </summary>
    async ValueTask<IReadOnlyList<AttemptSample>> RecentAttemptsAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken = default)
    {
        var samples = new List<AttemptSample>();
        foreach (var delivery in await ListAsync(new DeliveryQuery(Since: since, Limit: limit), cancellationToken).ConfigureAwait(false))
        {
            foreach (var a in await AttemptsAsync(delivery.Id, cancellationToken).ConfigureAwait(false))
            {
                if (a.StartedAt < since) continue;
                samples.Add(new AttemptSample(delivery.Endpoint, a.StartedAt, a.Duration, a.Outcome, a.StatusCode));
                if (samples.Count == limit) return samples;
            }
        }

        return samples;
    }
}

/// <summary>
/// A store that can lease new deliveries in the same write that stores them. The worker of the process that stores
/// them then starts them at once instead of reading them back with a lease query. The bundled SQLite and PostgreSQL
/// stores implement it; a store that does not is used through <see cref="IDeliveryStore.LeaseDueAsync"/> as before.
/// </summary>
public interface ILeasingDeliveryStore : IDeliveryStore
{
    /// <summary>
    /// As <see cref="IDeliveryStore.EnqueueAsync"/>, with the deliveries leased until <paramref name="leaseUntil"/>: no
    /// lease returns them before then (a process that stored them and died leaves them to the others when it ends).
    /// </summary>
    ValueTask EnqueueLeasedAsync(IReadOnlyList<DeliveryRecord> deliveries, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default);
}

/// <summary>One attempt, for charts: its delivery's endpoint, when it started, how long it took and how it ended.</summary>
public sealed record AttemptSample(string Endpoint, DateTimeOffset StartedAt, TimeSpan Duration, AttemptOutcome Outcome, int? StatusCode);

/// <summary>The argument check shared by the stores' status-limited purge.</summary>
internal static class PurgeStatus
{
    public static void Check(DeliveryStatus? status)
    {
        if (status == DeliveryStatus.Pending)
        {
            throw new ArgumentException("Pending deliveries are never purged; purge delivered or dead-lettered ones.", nameof(status));
        }
    }
}
