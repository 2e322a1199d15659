namespace Conductor.Sdk.Delivery;

/// <summary>Operations on stored deliveries for operators and tools: inspect, replay dead letters, purge.</summary>
public interface IDeliveryAdmin
{
    /// <summary>Deliveries matching a filter (ensemble, event, status, creation time), newest first.</summary>
    ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>The attempts of one delivery.</summary>
    ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Sends one dead-lettered delivery again, now, with a fresh retry budget.</summary>
    /// <exception cref="InvalidOperationException">The delivery does not exist or is not dead-lettered; the message says which.</exception>
    ValueTask ReplayAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Sends again every dead letter created since <paramref name="since"/> (optionally of one ensemble); returns their ids.</summary>
    ValueTask<IReadOnlyList<string>> ReplayAllAsync(DateTimeOffset since, string? ensemble = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes finished deliveries (delivered or dead-lettered) that finished longer than <paramref name="age"/> ago, in
    /// short batches (the code retention runs); returns how many.
    /// </summary>
    ValueTask<int> PurgeAsync(TimeSpan age, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IDeliveryAdmin"/> over the configured store; replays wake the worker at once.</summary>
public sealed class DeliveryAdmin(IDeliveryStore store, DeliverySignal signal, TimeProvider time) : IDeliveryAdmin
{
    private const int PageSize = 500;

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery query, CancellationToken cancellationToken = default) =>
        store.ListAsync(query, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        store.AttemptsAsync(deliveryId, cancellationToken);

    /// <inheritdoc />
    public async ValueTask ReplayAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        var record = await store.GetAsync(deliveryId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"No delivery '{deliveryId}' is stored.");
        if (!await store.ReplayAsync(deliveryId, time.GetUtcNow(), cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Delivery '{deliveryId}' ({record.Ensemble}, {record.Event}) is {record.Status.ToString().ToLowerInvariant()}, not dead-lettered; only dead letters are replayed.");
        }

        signal.Notify();
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> ReplayAllAsync(DateTimeOffset since, string? ensemble = null, CancellationToken cancellationToken = default)
    {
        var replayed = new List<string>();
        while (true)
        {
            // Each replay takes the delivery out of the dead letters, so the next page starts over.
            var page = await store.ListAsync(new DeliveryQuery(Ensemble: ensemble, Status: DeliveryStatus.DeadLettered, Since: since, Limit: PageSize), cancellationToken).ConfigureAwait(false);
            if (page.Count == 0) break;
            var now = time.GetUtcNow();
            foreach (var delivery in page)
            {
                if (await store.ReplayAsync(delivery.Id, now, cancellationToken).ConfigureAwait(false)) replayed.Add(delivery.Id);
            }

            signal.Notify();
            if (page.Count < PageSize) break;
        }

        return replayed;
    }

    /// <inheritdoc />
    public async ValueTask<int> PurgeAsync(TimeSpan age, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(age, TimeSpan.Zero);
        var cutoff = time.GetUtcNow() - age;
        return await DeliveryPruning.PruneAsync(store, DeliveryStatus.Delivered, cutoff, cancellationToken).ConfigureAwait(false)
            + await DeliveryPruning.PruneAsync(store, DeliveryStatus.DeadLettered, cutoff, cancellationToken).ConfigureAwait(false);
    }
}
