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
    private readonly IDeliveryStore _store;
    private readonly DeliverySignal _signal;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the worker.</summary>
    public DeliveryWorker(DeliveryProcessor processor, IDeliveryStore store, DeliverySignal signal, TimeProvider time, ILogger<DeliveryWorker>? logger = null)
    {
        _processor = processor;
        _store = store;
        _signal = signal;
        _time = time;
        _logger = logger ?? NullLogger<DeliveryWorker>.Instance;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _processor.StartDueAsync(stoppingToken).ConfigureAwait(false);
                var next = await _store.NextDueAsync(_processor.BusyEndpoints, stoppingToken).ConfigureAwait(false);
                var wait = next is { } due ? due - _time.GetUtcNow() : MaxIdle;
                if (wait > MaxIdle) wait = MaxIdle;
                // Something is due and there is room to run it: go round again rather than sleep.
                if (wait <= TimeSpan.Zero && _processor.HasCapacity) continue;

                using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var timer = wait > TimeSpan.Zero ? Task.Delay(wait, _time, wake.Token) : Task.Delay(Timeout.Infinite, wake.Token);
                // The processor signals when its queues run low, so finished attempts wake this loop too.
                await Task.WhenAny(timer, _signal.WaitAsync(wake.Token)).ConfigureAwait(false);
                wake.Cancel();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.WorkerFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken).ConfigureAwait(false);
            }
        }

        await _processor.WhenIdleAsync().ConfigureAwait(false);
    }
}
