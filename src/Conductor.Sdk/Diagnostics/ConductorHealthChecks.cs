using Conductor.Sdk.Delivery;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Diagnostics;

/// <summary>Settings of the checks that <c>AddHealthChecks().AddConductor()</c> registers.</summary>
public sealed class ConductorHealthCheckOptions
{
    /// <summary>Dead-lettered deliveries above which the dead-letter check reports <see cref="DeadLetterStatus"/>.</summary>
    public int DeadLetterThreshold { get; set; } = 100;

    /// <summary>What the dead-letter check reports above the threshold (default: degraded, since sending goes on).</summary>
    public HealthStatus DeadLetterStatus { get; set; } = HealthStatus.Degraded;

    /// <summary>
    /// How long the delivery worker's loop may stay silent before the worker check calls it stuck. The loop goes round
    /// at least every 30 s when idle, and when an attempt ends while all slots are busy; keep this above the longest
    /// attempt timeout.
    /// </summary>
    public TimeSpan WorkerStaleAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long the store check waits for the store to answer.</summary>
    public TimeSpan StoreTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Bytes on disk above which the store check reports degraded (default 4 GiB; null turns the check off): the store
    /// keeps growing when retention is off or too long for the traffic, or pruning fails.
    /// </summary>
    public long? StoreSizeThreshold { get; set; } = 4L * 1024 * 1024 * 1024;
}

/// <summary>Unhealthy when the delivery store does not answer a query in time.</summary>
internal sealed class ConductorStoreHealthCheck(IDeliveryStore store, IOptions<ConductorHealthCheckOptions> options) : IHealthCheck
{
    private static string Megabytes(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " MiB";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["store"] = store.GetType().Name };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.StoreTimeout);
        try
        {
            var next = await store.NextDueAsync(cancellationToken: timeout.Token).ConfigureAwait(false);
            if (next is { } due) data["next_due"] = due.ToString("O");
            if (store is IPruningDeliveryStore pruning)
            {
                var bytes = await pruning.SizeAsync(timeout.Token).ConfigureAwait(false);
                data["size_bytes"] = bytes;
                if (options.Value.StoreSizeThreshold is { } limit && bytes > limit)
                {
                    data["size_threshold_bytes"] = limit;
                    return HealthCheckResult.Degraded(
                        $"The delivery store ({store.GetType().Name}) answers, but takes {Megabytes(bytes)} on disk, above the threshold of {Megabytes(limit)} " +
                        "(Conductor:HealthChecks:StoreSizeThreshold). Check Conductor:Retention (are finished deliveries kept too long for the traffic?) and the " +
                        "pruner's log; 'conductor deliveries purge' frees rows at once.", data: data);
                }
            }

            return HealthCheckResult.Healthy($"The delivery store ({store.GetType().Name}) answers.", data);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus,
                $"The delivery store ({store.GetType().Name}) did not answer within {options.Value.StoreTimeout.TotalSeconds:0.#} s.", data: data);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The store's own errors name the file or server and what to do; they never carry a connection string's password.
            return new HealthCheckResult(context.Registration.FailureStatus,
                $"The delivery store ({store.GetType().Name}) cannot be reached: {ex.Message}", ex, data);
        }
    }
}

/// <summary>Unhealthy when the hosted delivery worker is not running, has stopped, or its loop has gone silent.</summary>
internal sealed class ConductorWorkerHealthCheck(IEnumerable<IHostedService> hosted, TimeProvider time, IOptions<ConductorHealthCheckOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var worker = hosted.OfType<DeliveryWorker>().FirstOrDefault();
        var failure = context.Registration.FailureStatus;
        if (worker is null)
        {
            return Task.FromResult(new HealthCheckResult(failure, "No delivery worker is registered: call AddConductor() on the host's services."));
        }

        if (worker.ExecuteTask is not { } task || worker.LastLoop is not { } last)
        {
            return Task.FromResult(new HealthCheckResult(failure, "The delivery worker has not started (the host is starting, or was never started)."));
        }

        if (task.IsCompleted)
        {
            return Task.FromResult(new HealthCheckResult(failure, task.IsFaulted
                ? $"The delivery worker stopped with an error: {task.Exception!.GetBaseException().Message}"
                : "The delivery worker has stopped (the host is shutting down).", task.Exception?.GetBaseException()));
        }

        var silent = time.GetUtcNow() - last;
        var data = new Dictionary<string, object> { ["last_loop"] = last.ToString("O"), ["silent_seconds"] = Math.Round(silent.TotalSeconds, 1) };
        if (silent > options.Value.WorkerStaleAfter)
        {
            return Task.FromResult(new HealthCheckResult(failure,
                $"The delivery worker's loop has been silent for {silent.TotalSeconds:0} s (limit {options.Value.WorkerStaleAfter.TotalSeconds:0} s): it is stuck.", data: data));
        }

        if (worker.LastFailure is { } error)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"The delivery worker is running, but its last round failed: {error.Message}", error, data));
        }

        return Task.FromResult(HealthCheckResult.Healthy("The delivery worker is running.", data));
    }
}

/// <summary>Degraded (by default) when more deliveries than the threshold are dead-lettered and waiting for a replay.</summary>
internal sealed class ConductorDeadLetterHealthCheck(IDeliveryStore store, IOptions<ConductorHealthCheckOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var threshold = options.Value.DeadLetterThreshold;
        // Reads at most threshold + 1 rows: enough to know whether the backlog is over the threshold.
        var dead = await store.ListAsync(new DeliveryQuery(Status: DeliveryStatus.DeadLettered, Limit: threshold + 1), cancellationToken).ConfigureAwait(false);
        var data = new Dictionary<string, object> { ["dead_lettered"] = dead.Count > threshold ? $"more than {threshold}" : dead.Count, ["threshold"] = threshold };
        if (dead.Count <= threshold)
        {
            return HealthCheckResult.Healthy($"{dead.Count} dead-lettered deliveries (threshold {threshold}).", data);
        }

        return new HealthCheckResult(options.Value.DeadLetterStatus,
            $"More than {threshold} deliveries are dead-lettered. List them with 'conductor deliveries list --status dead-lettered' and, once the receivers are fixed, replay them with 'conductor deliveries replay --all-dead-lettered'.", data: data);
    }
}

/// <summary>
/// Degraded when an endpoint that is not disabled has a due delivery older than
/// <see cref="Delivery.ConductorEndpointOptions.BacklogAgeThreshold"/>, or a disabled endpoint holds due deliveries
/// (paused work must be visible). Reads the last endpoint check (every <c>CheckInterval</c>), or the store when none ran yet.
/// </summary>
internal sealed class ConductorEndpointsHealthCheck(Delivery.EndpointLifecycle lifecycle, ConductorTelemetry telemetry, TimeProvider time, IOptions<ConductorOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var endpoints = options.Value.Endpoints;
        var snapshot = telemetry.Endpoints;
        if (snapshot is null || time.GetUtcNow() - snapshot.At > endpoints.CheckInterval * 2)
        {
            snapshot = new Delivery.EndpointSnapshot(time.GetUtcNow(), await lifecycle.ListAsync(cancellationToken).ConfigureAwait(false));
        }

        var threshold = endpoints.BacklogAgeThreshold;
        var late = snapshot.Endpoints.Where(e => e.Health != Delivery.EndpointHealth.Disabled && e.OldestDueAge > threshold).ToList();
        var paused = snapshot.Endpoints.Where(e => e.Health == Delivery.EndpointHealth.Disabled && e.Due > 0).ToList();
        var data = new Dictionary<string, object>();
        foreach (var e in snapshot.Endpoints.Where(e => e.Due > 0 || e.Health != Delivery.EndpointHealth.Healthy))
        {
            data[e.Endpoint] = $"{e.Health.ToString().ToLowerInvariant()}, {e.Due} due, oldest {e.OldestDueAge.TotalSeconds:0} s";
        }

        if (late.Count == 0 && paused.Count == 0)
        {
            return HealthCheckResult.Healthy($"No endpoint has a due delivery older than {threshold}.", data);
        }

        var parts = new List<string>();
        if (late.Count > 0) parts.Add($"due deliveries older than {threshold} wait for {string.Join(", ", late.Select(e => $"{e.Endpoint} ({e.Due}, oldest {e.OldestDueAge.TotalMinutes:0} min, {e.Health.ToString().ToLowerInvariant()})"))}");
        if (paused.Count > 0) parts.Add($"disabled endpoints hold due deliveries: {string.Join(", ", paused.Select(e => $"{e.Endpoint} ({e.Due}; {e.State.DisabledReason})"))}; enable them with 'conductor endpoints enable <endpoint>' or the dashboard");
        return HealthCheckResult.Degraded(string.Join("; ", parts) + ".", data: data);
    }
}
