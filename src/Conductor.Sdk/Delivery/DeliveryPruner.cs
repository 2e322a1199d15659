using System.Diagnostics;
using Conductor.Sdk.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// Retention, in the worker host: every <see cref="ConductorRetentionOptions.PruneInterval"/> it removes the delivered
/// and dead-lettered deliveries whose retention has ended (<see cref="DeliveryPruning"/>, in short batches), then
/// counts what the store holds for the <c>conductor.store.*</c> gauges. Pending, retrying and leased deliveries are
/// never touched. On PostgreSQL one process at a time prunes (an advisory lock per batch). Time is the injected
/// <see cref="TimeProvider"/>.
/// </summary>
public sealed class DeliveryPruner : BackgroundService
{
    private readonly IDeliveryStore _store;
    private readonly ConductorRetentionOptions _retention;
    private readonly TimeProvider _time;
    private readonly ConductorTelemetry? _telemetry;
    private readonly ILogger _logger;

    /// <summary>Creates the pruner.</summary>
    public DeliveryPruner(IDeliveryStore store, IOptions<ConductorOptions> options, TimeProvider time, ConductorTelemetry? telemetry = null, ILogger<DeliveryPruner>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _retention = options.Value.Retention;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _telemetry = telemetry;
        _logger = logger ?? NullLogger<DeliveryPruner>.Instance;
    }

    /// <summary>Removes what has expired now, at full speed, and counts what the store holds.</summary>
    public Task<PruneResult> PruneAsync(CancellationToken cancellationToken = default) => PassAsync(pace: null, cancellationToken);

    /// <summary>One pass; the hosted loop paces its batches on the injected clock (<paramref name="pace"/>).</summary>
    private async Task<PruneResult> PassAsync(TimeProvider? pace, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var now = _time.GetUtcNow();
        var delivered = await PruneAsync(DeliveryStatus.Delivered, now, pace, cancellationToken).ConfigureAwait(false);
        var deadLettered = await PruneAsync(DeliveryStatus.DeadLettered, now, pace, cancellationToken).ConfigureAwait(false);
        if (_store is IPruningDeliveryStore pruning)
        {
            var usage = await pruning.UsageAsync(cancellationToken).ConfigureAwait(false);
            if (_telemetry is not null) _telemetry.StoreUsage = usage;
            if (delivered + deadLettered > 0)
            {
                Log.Pruned(_logger, delivered, deadLettered, clock.ElapsedMilliseconds, usage.Pending, usage.Delivered, usage.DeadLettered, usage.Bytes);
            }
        }

        return new PruneResult(delivered, deadLettered);
    }

    private async Task<int> PruneAsync(DeliveryStatus status, DateTimeOffset now, TimeProvider? pace, CancellationToken cancellationToken)
    {
        if (_retention.For(status) is not { } keep) return 0;
        var deleted = await DeliveryPruning.PruneAsync(_store, status, now - keep, pace, cancellationToken).ConfigureAwait(false);
        if (deleted > 0) _telemetry?.Pruned.Add(deleted, new KeyValuePair<string, object?>("conductor.status", status == DeliveryStatus.Delivered ? "delivered" : "dead_lettered"));
        return deleted;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = _retention.PruneInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PassAsync(_time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A store outage is the store check's to report; pruning simply tries again next time.
                Log.PruneFailed(_logger, ex, interval);
            }

            try
            {
                await Task.Delay(interval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
