using System.Globalization;
using Conductor.Sdk.Delivery;
using Microsoft.Extensions.Configuration;

namespace Conductor.Sdk
{
    /// <summary>
    /// How long finished deliveries are kept (<c>Conductor:Retention</c>). A delivery is removed, with its attempts and
    /// payload, once it has been delivered (or dead-lettered) for longer than its retention; pending, retrying and leased
    /// deliveries are never removed. The pruning runs in the worker host, every <see cref="PruneInterval"/>, in short
    /// batches (<see cref="DeliveryPruner"/>).
    /// </summary>
    public sealed class ConductorRetentionOptions
    {
        /// <summary>The value that keeps deliveries forever; in configuration, <c>Infinite</c>.</summary>
        public static readonly TimeSpan Infinite = Timeout.InfiniteTimeSpan;

        /// <summary>How long a delivered delivery is kept after its last attempt (default 7 days).</summary>
        public TimeSpan Delivered { get; set; } = TimeSpan.FromDays(7);

        /// <summary>How long a dead-lettered delivery is kept, so that it can still be replayed (default 30 days).</summary>
        public TimeSpan DeadLettered { get; set; } = TimeSpan.FromDays(30);

        /// <summary>How often the worker host removes expired deliveries (default 1 minute).</summary>
        public TimeSpan PruneInterval { get; set; } = TimeSpan.FromMinutes(1);

        /// <summary>The retention of <paramref name="status"/>, or null for pending deliveries (never removed) and <see cref="Infinite"/>.</summary>
        public TimeSpan? For(DeliveryStatus status) => status switch
        {
            DeliveryStatus.Delivered when Delivered != Infinite => Delivered,
            DeliveryStatus.DeadLettered when DeadLettered != Infinite => DeadLettered,
            _ => null,
        };

        /// <summary>When <paramref name="delivery"/> will be removed, or null when it is pending or kept forever.</summary>
        public DateTimeOffset? ExpiresAt(DeliveryRecord delivery)
        {
            ArgumentNullException.ThrowIfNull(delivery);
            return delivery.FinishedAt is { } finished && For(delivery.Status) is { } keep ? finished + keep : null;
        }

        /// <summary>Values of <c>Conductor:Retention</c> that could not be read; the options validator reports them at start-up.</summary>
        internal List<string> BindingErrors { get; } = new();

        /// <summary>
        /// Reads <c>Conductor:Retention</c> (<paramref name="section"/>): TimeSpan strings (<c>7.00:00:00</c>,
        /// <c>00:00:10</c>) or <c>Infinite</c>. The configuration binder cannot read <c>Infinite</c>, so this section is
        /// read here and hidden from it (<see cref="WithoutChild"/>).
        /// </summary>
        internal void Bind(IConfigurationSection section)
        {
            Delivered = Read(section, nameof(Delivered), Delivered, allowInfinite: true);
            DeadLettered = Read(section, nameof(DeadLettered), DeadLettered, allowInfinite: true);
            PruneInterval = Read(section, nameof(PruneInterval), PruneInterval, allowInfinite: false);
        }

        private TimeSpan Read(IConfigurationSection section, string key, TimeSpan current, bool allowInfinite)
        {
            var text = section[key]?.Trim();
            if (string.IsNullOrEmpty(text)) return current;
            if (allowInfinite && string.Equals(text, "Infinite", StringComparison.OrdinalIgnoreCase)) return Infinite;
            if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value)) return value;
            BindingErrors.Add($"{section.Path}:{key} is '{text}', which is not a duration: write a TimeSpan such as 7.00:00:00 (7 days) or 00:00:10 (10 seconds)" +
                (allowInfinite ? ", or Infinite to keep these deliveries forever." : "."));
            return current;
        }

        internal IEnumerable<string> Validate()
        {
            foreach (var error in BindingErrors) yield return error;
            foreach (var (key, value) in new[] { (nameof(Delivered), Delivered), (nameof(DeadLettered), DeadLettered) })
            {
                if (value != Infinite && value <= TimeSpan.Zero)
                {
                    yield return $"Conductor:Retention:{key} must be positive (it is {value}); write Infinite to keep these deliveries forever.";
                }
            }

            if (PruneInterval < TimeSpan.FromSeconds(1) || PruneInterval > TimeSpan.FromDays(1))
            {
                yield return $"Conductor:Retention:PruneInterval must be between 1 second and 1 day (it is {PruneInterval}).";
            }
        }
    }

    /// <summary>
    /// A configuration section with one child hidden, so that the binder leaves that child to code that reads it
    /// itself (<see cref="ConductorRetentionOptions.Bind"/>).
    /// </summary>
    internal sealed class WithoutChild(IConfigurationSection inner, string hidden) : IConfigurationSection
    {
        private bool Hidden(string key) =>
            string.Equals(key, hidden, StringComparison.OrdinalIgnoreCase) || key.StartsWith(hidden + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase);

        public string? this[string key]
        {
            get => Hidden(key) ? null : inner[key];
            set => inner[key] = value;
        }

        public string Key => inner.Key;

        public string Path => inner.Path;

        public string? Value
        {
            get => inner.Value;
            set => inner.Value = value;
        }

        public IConfigurationSection GetSection(string key) => Hidden(key) ? inner.GetSection("\u0001hidden") : inner.GetSection(key);

        public IEnumerable<IConfigurationSection> GetChildren() => inner.GetChildren().Where(child => !Hidden(child.Key));

        public Microsoft.Extensions.Primitives.IChangeToken GetReloadToken() => inner.GetReloadToken();
    }
}

namespace Conductor.Sdk.Delivery
{
    /// <summary>
    /// A store that removes finished deliveries by how long they have been finished (retention), in short batches, and
    /// reports what it holds. The bundled SQLite, PostgreSQL and in-memory stores implement it; for another store the
    /// pruner falls back to <see cref="IDeliveryStore.PurgeAsync(DateTimeOffset, DeliveryStatus?, CancellationToken)"/>
    /// (by creation time).
    /// </summary>
    public interface IPruningDeliveryStore : IDeliveryStore
    {
        /// <summary>
        /// Deletes, in one transaction (SQLite: the next group commit's), up to <paramref name="max"/> deliveries of <paramref name="status"/>
        /// (delivered or dead-lettered) that reached it before <paramref name="finishedBefore"/>, with their attempts.
        /// Returns how many it deleted: fewer than <paramref name="max"/> when no more are expired (or, on PostgreSQL,
        /// while another process prunes).
        /// </summary>
        /// <exception cref="ArgumentException"><paramref name="status"/> is <see cref="DeliveryStatus.Pending"/>.</exception>
        ValueTask<int> PruneAsync(DeliveryStatus status, DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken = default);

        /// <summary>The bytes the store takes on disk (the SQLite file and its WAL; PostgreSQL's tables and indexes).</summary>
        ValueTask<long> SizeAsync(CancellationToken cancellationToken = default);

        /// <summary>Rows by status and bytes on disk (counting reads every row's index entry: call it once in a while).</summary>
        ValueTask<DeliveryStoreUsage> UsageAsync(CancellationToken cancellationToken = default);
    }

    /// <summary>What a store holds: deliveries by status, and its size on disk in bytes.</summary>
    public sealed record DeliveryStoreUsage(long Pending, long Delivered, long DeadLettered, long Bytes);

    /// <summary>What one pruning pass removed.</summary>
    public sealed record PruneResult(int Delivered, int DeadLettered);

    /// <summary>The batched deletion shared by the pruner, <see cref="IDeliveryAdmin.PurgeAsync"/> and <c>conductor deliveries purge</c>.</summary>
    public static class DeliveryPruning
    {
        /// <summary>
        /// Rows deleted per batch: about half a millisecond of work. Larger batches write fewer WAL pages per row (the
        /// rows deleted together share pages), which matters more to SQLite's checkpoints than the batch's own time.
        /// </summary>
        public const int BatchSize = 100;

        /// <summary>
        /// Deletes every delivery of <paramref name="status"/> finished before <paramref name="finishedBefore"/>, one
        /// batch at a time, letting other writes in between. A store that is not an
        /// <see cref="IPruningDeliveryStore"/> purges by creation time in one call. Returns how many were deleted.
        /// </summary>
        public static ValueTask<int> PruneAsync(IDeliveryStore store, DeliveryStatus status, DateTimeOffset finishedBefore, CancellationToken cancellationToken = default) =>
            PruneAsync(store, status, finishedBefore, pace: null, cancellationToken);

        /// <summary>
        /// As <see cref="PruneAsync(IDeliveryStore, DeliveryStatus, DateTimeOffset, CancellationToken)"/>; with
        /// <paramref name="pace"/>, after each full batch it pauses three times as long as the batch took (at least 1 ms,
        /// on that clock), so that pruning takes at most a quarter of the store's writer while it runs and spreads its
        /// work instead of bursting (what the background pruner does: a burst shows in Notify's p99).
        /// </summary>
        public static async ValueTask<int> PruneAsync(IDeliveryStore store, DeliveryStatus status, DateTimeOffset finishedBefore, TimeProvider? pace, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(store);
            PurgeStatus.Check(status);
            if (store is not IPruningDeliveryStore pruning) return await store.PurgeAsync(finishedBefore, status, cancellationToken).ConfigureAwait(false);
            var total = 0;
            while (true)
            {
                var started = pace?.GetTimestamp() ?? 0;
                var deleted = await pruning.PruneAsync(status, finishedBefore, BatchSize, cancellationToken).ConfigureAwait(false);
                total += deleted;
                if (deleted < BatchSize) return total;
                // Between batches the store's writer is free: the group commits of Notify waiting for it go first.
                if (pace is null)
                {
                    await Task.Yield();
                    continue;
                }

                var took = pace.GetElapsedTime(started);
                await Task.Delay(took * 3 < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : took * 3, pace, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
