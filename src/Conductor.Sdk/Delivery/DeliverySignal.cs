namespace Conductor.Sdk.Delivery;

/// <summary>Wakes the delivery worker when new deliveries are enqueued in this process.</summary>
public sealed class DeliverySignal
{
    private readonly GateSemaphore _semaphore = new(0, 1);
    private long _generation;

    /// <summary>
    /// Signals that work may be due: the store may hold deliveries this process does not know of (stored by another
    /// process or tool, replayed, committed with an application's transaction, or due now by the clock), so the worker
    /// queries the store on its next round.
    /// </summary>
    public void Notify()
    {
        Interlocked.Increment(ref _generation);
        Wake();
    }

    /// <summary>Bumped by every <see cref="Notify"/>: the processor compares it to tell whether its view of the store is still whole.</summary>
    internal long Generation => Interlocked.Read(ref _generation);

    /// <summary>Wakes the worker without saying anything new about the store (the processor knows what it flagged itself).</summary>
    internal void Wake()
    {
        try
        {
            if (_semaphore.CurrentCount == 0) _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    /// <summary>
    /// Signals that deliveries were written with an application's transaction at <paramref name="now"/>: they become due
    /// when it commits, so the worker looks again every <see cref="EnlistedPoll"/> for <see cref="EnlistedWindow"/>.
    /// </summary>
    internal void NotifyEnlisted(DateTimeOffset now)
    {
        Interlocked.Exchange(ref _enlistedAt, now.UtcTicks);
        Notify();
    }

    /// <summary>How often the worker looks for committed outbox rows after an enlisted <c>Notify</c>.</summary>
    internal static readonly TimeSpan EnlistedPoll = TimeSpan.FromMilliseconds(200);

    /// <summary>How long after an enlisted <c>Notify</c> the worker polls (a longer transaction is found by the idle poll).</summary>
    internal static readonly TimeSpan EnlistedWindow = TimeSpan.FromSeconds(30);

    /// <summary>True while the worker should poll for outbox rows committed after <paramref name="now"/>'s window began.</summary>
    internal bool AwaitingCommit(DateTimeOffset now)
    {
        var at = Interlocked.Read(ref _enlistedAt);
        return at != 0 && now.UtcTicks - at < EnlistedWindow.Ticks;
    }

    private long _enlistedAt;

    /// <summary>The processor that new deliveries may be handed to as they are stored (set when a processor is created).</summary>
    internal DeliveryProcessor? Processor { get; set; }

    /// <summary>True when a signal is waiting to be taken (the worker has yet to see it).</summary>
    internal bool Pending => _semaphore.CurrentCount > 0;

    /// <summary>True while the worker waits and no signal has reached it (systematic tests only; see <see cref="GateSemaphore.HasWaiter"/>).</summary>
    internal bool Waiting => _semaphore.HasWaiter;

    /// <summary>Waits for a signal.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _semaphore.WaitAsync(cancellationToken);
}
