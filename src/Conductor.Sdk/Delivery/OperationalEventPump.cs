using System.Threading.Channels;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// Hands operational events (<see cref="OperationalEventNames"/>) to the application, off the delivery path: raising one
/// only queues it. A background loop counts it (<c>conductor.operational.events</c>), calls every
/// <see cref="IOperationalEventObserver"/>, then stores one delivery per YAML notification subscribed to it, in every
/// ensemble (<c>events: [endpoint.disabled]</c>). The queue holds <see cref="Capacity"/> events; beyond that new ones
/// are dropped and counted in a warning, so that a storm of dead letters cannot exhaust memory.
/// </summary>
public sealed class OperationalEventPump : BackgroundService
{
    /// <summary>Events waiting to be handled, at most.</summary>
    public const int Capacity = 10_000;

    private readonly Channel<OperationalEvent> _queue = Channel.CreateBounded<OperationalEvent>(new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly IServiceProvider _services;
    private readonly NotificationRegistry _registry;
    private readonly ConductorTelemetry _telemetry;
    private readonly ILogger _logger;
    private long _dropped;
    private int _pending;
    private TaskCompletionSource _idle = Completed();

    /// <summary>Creates the pump.</summary>
    public OperationalEventPump(IServiceProvider services, NotificationRegistry registry, ConductorTelemetry telemetry, ILogger<OperationalEventPump>? logger = null)
    {
        _services = services;
        _registry = registry;
        _telemetry = telemetry;
        _logger = logger ?? NullLogger<OperationalEventPump>.Instance;
    }

    /// <summary>Queues an event (never blocks).</summary>
    public void Publish(OperationalEvent operationalEvent)
    {
        ArgumentNullException.ThrowIfNull(operationalEvent);
        lock (_queue)
        {
            if (!_queue.Writer.TryWrite(operationalEvent))
            {
                _dropped++;
                return;
            }

            if (_pending++ == 0) _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Completes when every event queued so far has been handled (tests).</summary>
    public Task WhenIdleAsync()
    {
        lock (_queue) return _idle.Task;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var observers = _services.GetServices<IOperationalEventObserver>().ToArray();
        var dispatcher = _services.GetRequiredService<NotificationDispatcher>();
        try
        {
            await foreach (var e in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                await HandleAsync(e, observers, dispatcher, stoppingToken).ConfigureAwait(false);
                long dropped;
                lock (_queue)
                {
                    dropped = _dropped;
                    _dropped = 0;
                    if (--_pending == 0) _idle.TrySetResult();
                }

                if (dropped > 0) Log.OperationalEventsDropped(_logger, dropped, Capacity);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task HandleAsync(OperationalEvent e, IOperationalEventObserver[] observers, NotificationDispatcher dispatcher, CancellationToken cancellationToken)
    {
        _telemetry.OperationalEvents.Add(1, new KeyValuePair<string, object?>("conductor.event", e.Name));
        foreach (var observer in observers)
        {
            try
            {
                await observer.OnEventAsync(e, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.ObserverFailed(_logger, ex, observer.GetType().FullName ?? observer.GetType().Name, e.Name);
            }
        }

        // A notification about a failing notification is not itself reported when it fails: no loop.
        if (e.Delivery is { } dead && OperationalEventNames.Contains(dead.Event)) return;
        foreach (var ensemble in _registry.All.Where(n => n.Events.Contains(e.Name)).Select(n => n.Ensemble).Distinct(StringComparer.Ordinal))
        {
            try
            {
                await dispatcher.DispatchAsync(new OperationalNotificationEvent(e.Timestamp, e.Name, ensemble, e.Data(ensemble)), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.ObserverFailed(_logger, ex, "notifications of " + ensemble, e.Name);
            }
        }
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}
