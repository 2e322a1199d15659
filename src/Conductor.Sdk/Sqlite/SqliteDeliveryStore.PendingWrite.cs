using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Sqlite;

public sealed partial class SqliteDeliveryStore
{
    // Writes waiting for their caller to be reused: Notify and every attempt outcome submit one, so a write costs no
    // allocation once the pool has filled. Bounded: a burst leaves at most this many behind.
    private readonly ConcurrentQueue<PendingWrite> _spareWrites = new();
    private int _spareCount;
    internal const int MaxSpareWrites = 256;

    /// <summary>Writes waiting in the pool to be reused (for tests).</summary>
    internal int SpareWrites => Volatile.Read(ref _spareCount);

    private PendingWrite RentWrite()
    {
        if (_spareWrites.TryDequeue(out var write))
        {
            Interlocked.Decrement(ref _spareCount);
            return write;
        }

        return new PendingWrite(this);
    }

    private void ReturnWrite(PendingWrite write)
    {
        if (Interlocked.Increment(ref _spareCount) <= MaxSpareWrites) _spareWrites.Enqueue(write);
        else Interlocked.Decrement(ref _spareCount);
    }

    /// <summary>
    /// A write waiting for the next group commit: new deliveries, the outcome of an attempt, or a batch of retention's
    /// deletes. It is its caller's <see cref="ValueTask"/> too (completed once, by the group commit or the WAL sync) and
    /// goes back to the store's pool when the caller has taken the result, as a <see cref="ValueTask"/> is awaited once.
    /// </summary>
    internal sealed class PendingWrite : IValueTaskSource
    {
        private readonly SqliteDeliveryStore _owner;
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
        private int _completed;

        public PendingWrite(SqliteDeliveryStore owner) => _owner = owner;

        public IReadOnlyList<DeliveryRecord>? Deliveries { get; private set; }
        public AttemptLog? Attempt { get; private set; }
        public DeliveryStatus Next { get; private set; }
        public long? LeaseUntil { get; private set; }
        public PruneBatch? Prune { get; private set; }

        public PendingWrite Set(IReadOnlyList<DeliveryRecord>? deliveries, AttemptLog? attempt, DeliveryStatus next, long? leaseUntil, PruneBatch? prune)
        {
            (Deliveries, Attempt, Next, LeaseUntil, Prune) = (deliveries, attempt, next, leaseUntil, prune);
            return this;
        }

        /// <summary>The caller's view of the write; a cancellable wait gives up waiting, not the write.</summary>
        public ValueTask AsValueTask(CancellationToken cancellationToken)
        {
            var own = new ValueTask(this, _core.Version);
            return cancellationToken.CanBeCanceled ? new ValueTask(own.AsTask().WaitAsync(cancellationToken)) : own;
        }

        public bool TrySetResult()
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0) return false;
            _core.SetResult(true);
            return true;
        }

        public bool TrySetException(Exception error)
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0) return false;
            _core.SetException(error);
            return true;
        }

        public void GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                // The caller has the outcome: nothing refers to this write any more.
                Set(null, null, default, null, null);
                _core.Reset();
                Volatile.Write(ref _completed, 0);
                _owner.ReturnWrite(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
