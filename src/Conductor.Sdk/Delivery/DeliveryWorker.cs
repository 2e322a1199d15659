using Conductor.Sdk.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// The hosted worker: starts due deliveries, then sleeps until the next is due, a new one is enqueued,
/// or the processor's queues run low. Sleeps use the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class DeliveryWorker : BackgroundService
{
    private static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(30);
    private readonly DeliveryProcessor _processor;
    private readonly DeliverySignal _signal;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private long _lastLoopTicks;
    private Exception? _lastFailure;
    private volatile bool _sleeping;

    /// <summary>True while the loop waits for a signal (its timer, a new delivery, a finished attempt): tests wait for it before moving the clock.</summary>
    internal bool Sleeping => _sleeping;

    /// <summary>The longest the loop sleeps when nothing is due; a loop silent for much longer is stuck.</summary>
    internal static TimeSpan IdleLimit => MaxIdle;

    /// <summary>When the loop last went round (its heartbeat), or null before it first ran.</summary>
    internal DateTimeOffset? LastLoop => Volatile.Read(ref _lastLoopTicks) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>The error of the loop's last round, or null when it succeeded.</summary>
    internal Exception? LastFailure => Volatile.Read(ref _lastFailure);

    /// <summary>Creates the worker.</summary>
    public DeliveryWorker(DeliveryProcessor processor, IDeliveryStore store, DeliverySignal signal, TimeProvider time, ILogger<DeliveryWorker>? logger = null)
    {
        _processor = processor;
        // The processor queries the store (it knows when a query can find nothing); the parameter stays for compatibility.
        ArgumentNullException.ThrowIfNull(store);
        _signal = signal;
        _time = time;
        _logger = logger ?? NullLogger<DeliveryWorker>.Instance;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // One timer for the whole loop, re-armed only when something is due earlier than it is set for: it wakes the loop
        // through the same signal as new deliveries and finished attempts, so a wake-up costs no timer, task or
        // cancellation source of its own. (Under a burst of events the loop wakes thousands of times a second.)
        var wake = new TimerWake(_signal);
        using var timer = _time.CreateTimer(static state => ((TimerWake)state!).Fire(), wake, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        DateTimeOffset? armedFor = null;
        _processor.StartHandoffs(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Volatile.Write(ref _lastLoopTicks, _time.GetUtcNow().UtcTicks);
                await _processor.StartDueAsync(stoppingToken).ConfigureAwait(false);
                var next = await _processor.NextDueAsync(stoppingToken).ConfigureAwait(false);
                Volatile.Write(ref _lastFailure, null);
                var now = _time.GetUtcNow();
                var wait = next is { } due ? due - now : MaxIdle;
                if (wait > MaxIdle) wait = MaxIdle;
                // Outbox rows appear when the application commits: look again shortly while one may be open.
                if (_signal.AwaitingCommit(now) && wait > DeliverySignal.EnlistedPoll) wait = DeliverySignal.EnlistedPoll;
                // Something is due and there is room to run it: go round again rather than sleep.
                if (wait <= TimeSpan.Zero && _processor.HasCapacity) continue;

                // A timer that fired is spent, even if its clock ran a little ahead of this one. A timer set for earlier than
                // needed only wakes the loop once more for nothing; one set too late would miss.
                if (wake.TakeFired()) armedFor = null;
                if (wait > TimeSpan.Zero && (armedFor is not { } armed || armed <= now || now + wait < armed))
                {
                    timer.Change(wait, Timeout.InfiniteTimeSpan);
                    armedFor = now + wait;
                }

                // The processor signals when its queues run low, so finished attempts wake this loop too.
                _sleeping = true;
                await _signal.WaitAsync(stoppingToken).ConfigureAwait(false);
                _sleeping = false;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Volatile.Write(ref _lastFailure, ex);
                Log.WorkerFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken).ConfigureAwait(false);
            }
        }

        _processor.StopHandoffs();
        await _processor.WhenIdleAsync().ConfigureAwait(false);
    }

    /// <summary>The loop's timer callback: remembers that it fired, then wakes the loop.</summary>
    private sealed class TimerWake(DeliverySignal signal)
    {
        private int _fired;

        public void Fire()
        {
            Volatile.Write(ref _fired, 1);
            signal.Notify();
        }

        public bool TakeFired() => Interlocked.Exchange(ref _fired, 0) == 1;
    }
}
