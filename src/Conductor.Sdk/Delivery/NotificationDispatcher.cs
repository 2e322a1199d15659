using System.Diagnostics;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conductor.Sdk.Delivery;

/// <summary>What one event turned into: the ids of the deliveries it enqueued.</summary>
/// <param name="Event">The event name.</param>
/// <param name="Ensemble">The ensemble.</param>
/// <param name="DeliveryIds">One id per notification subscribed to the event, in notification order.</param>
public sealed record DispatchReceipt(string Event, string Ensemble, IReadOnlyList<string> DeliveryIds);

/// <summary>
/// Fans an event out to every notification of its ensemble that subscribes to it. The payload is
/// serialized once; each delivery is stored before <see cref="DispatchAsync"/> returns, then the worker
/// is woken to send it.
/// </summary>
public sealed class NotificationDispatcher
{
    private readonly NotificationRegistry _registry;
    private readonly IDeliveryStore _store;
    private readonly Dictionary<string, INotificationChannel> _channels;
    private readonly TimeProvider _time;
    private readonly DeliverySignal _signal;
    private readonly ConductorTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly bool _propagateTrace;

    /// <summary>Creates a dispatcher.</summary>
    public NotificationDispatcher(
        NotificationRegistry registry,
        IDeliveryStore store,
        IEnumerable<INotificationChannel> channels,
        TimeProvider time,
        DeliverySignal signal,
        ConductorTelemetry telemetry,
        ILogger<NotificationDispatcher>? logger = null,
        Microsoft.Extensions.Options.IOptions<ConductorOptions>? options = null)
    {
        _propagateTrace = options?.Value.PropagateTraceContext ?? true;
        _registry = registry;
        _store = store;
        // The last registration of a channel wins, so an application (or a test) can replace a built-in one.
        _channels = channels.GroupBy(c => c.Channel, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _time = time;
        _signal = signal;
        _telemetry = telemetry;
        _logger = logger ?? NullLogger<NotificationDispatcher>.Instance;
    }

    /// <summary>Enqueues one delivery per subscribed notification and returns their ids.</summary>
    /// <remarks>Await the result once, as with any <see cref="ValueTask{TResult}"/>: its state machine is pooled.</remarks>
    /// <exception cref="InvalidOperationException">A subscribed notification's channel is not registered; the message names the ensemble, the notification and the channel.</exception>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(DeliveryMethodBuilder<>))]
    public async ValueTask<DispatchReceipt> DispatchAsync(ConductorEvent @event, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        var targets = _registry.ForEvent(@event.Ensemble, @event.Name);
        if (targets.Count == 0) return new DispatchReceipt(@event.Name, @event.Ensemble, Array.Empty<string>());

        using var activity = ConductorTelemetry.ActivitySource.StartActivity("conductor.dispatch");
        activity?.SetTag("conductor.event", @event.Name);
        activity?.SetTag("conductor.ensemble", @event.Ensemble);

        var payload = EventPayload.Serialize(@event);
        // Template-rendering channels also get the run's input (not part of the webhook body).
        var rendering = @event.RunInput is null ? payload : null;
        var now = _time.GetUtcNow();
        var total = 0;
        for (var i = 0; i < targets.Count; i++) total += targets[i].Recipients;
        var records = new DeliveryRecord[total];
        for (int i = 0, n = 0; i < targets.Count; i++)
        {
            var notification = targets[i];
            var body = notification.Channel == "webhook" ? payload : rendering ??= EventPayload.SerializeForRendering(@event);
            Fill(records.AsSpan(n, notification.Recipients), notification, @event.Name, body, now);
            n += notification.Recipients;
        }

        var ids = await StoreAsync(records, @event.Name, @event.Ensemble, cancellationToken).ConfigureAwait(false);
        return new DispatchReceipt(@event.Name, @event.Ensemble, ids);
    }

    /// <summary>
    /// Stores the deliveries of a flow's operation step (one per recipient, each retried on its own) and returns their
    /// ids. The payload holds the values rendered when the step ran (see <see cref="Runner.OperationPayload"/>).
    /// </summary>
    internal async ValueTask<string[]> EnqueueStepAsync(Runner.OperationNotificationDefinition step, ReadOnlyMemory<byte> payload, int recipients, CancellationToken cancellationToken)
    {
        var records = new DeliveryRecord[recipients];
        var eventName = step.Events.Single();
        Fill(records, step, eventName, payload, _time.GetUtcNow());
        return await StoreAsync(records, eventName, step.Ensemble, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fills one record per recipient of a notification, all due now.</summary>
    private void Fill(Span<DeliveryRecord> into, NotificationDefinition notification, string eventName, ReadOnlyMemory<byte> body, DateTimeOffset now)
    {
        if (!_channels.TryGetValue(notification.Channel, out var channel))
        {
            throw new InvalidOperationException(
                $"{notification.Describe()} needs the '{notification.Channel}' channel, which is not registered; add its package and register it on the Conductor builder.");
        }

        var endpoint = channel.EndpointOf(notification);
        // The caller's trace (or this dispatch's activity, its child) continues into every attempt of these deliveries.
        var trace = _propagateTrace && Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;
        for (var recipient = 0; recipient < into.Length; recipient++)
        {
            into[recipient] = new DeliveryRecord(
                DeliveryRecord.NewId(_time), notification.Ensemble, eventName, notification.DeliveryKey(recipient, into.Length), notification.Channel,
                endpoint, body, now, now, DeliveryStatus.Pending, 0, notification.Retries + 1) { TraceParent = trace };
        }
    }

    /// <summary>Stores the records (persisted before this returns), counts and logs them, and wakes the worker.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(DeliveryMethodBuilder<>))]
    private async ValueTask<string[]> StoreAsync(DeliveryRecord[] records, string eventName, string ensemble, CancellationToken cancellationToken)
    {
        if (ConductorOutbox.Transaction is { } transaction)
        {
            if (_store is not ITransactionalDeliveryStore outbox)
            {
                throw new InvalidOperationException(
                    $"Notify for ensemble '{ensemble}' was called inside ConductorOutbox.Enlist, but the delivery store ({_store.GetType().Name}) cannot join the application's transaction; " +
                    "use UseSqlite(path) or UsePostgreSql(connectionString) on the application's database.");
            }

            await outbox.EnqueueAsync(records, transaction, cancellationToken).ConfigureAwait(false);
            // The rows become visible when the application commits, which no event announces: the worker polls briefly.
            _signal.NotifyEnlisted(_time.GetUtcNow());
        }
        else if (_store is ILeasingDeliveryStore leasing && _signal.Processor is { } processor && await ReserveAsync(processor, records, cancellationToken).ConfigureAwait(false) is { } leaseUntil)
        {
            // The worker has room for them: stored already leased to this process, and started without a lease query.
            try
            {
                await leasing.EnqueueLeasedAsync(records, leaseUntil, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Not stored, or (cancelled while the write went on) stored leased: then it is sent when the lease ends.
                processor.Unreserve(records);
                throw;
            }

            processor.Admit(records, leaseUntil);
            Counted(records.Length, eventName, ensemble);
            return Ids(records);
        }
        else
        {
            await _store.EnqueueAsync(records, cancellationToken).ConfigureAwait(false);
        }

        Counted(records.Length, eventName, ensemble);
        if (_signal.Processor?.Stored(records) ?? true) _signal.Wake();
        return Ids(records);
    }

    /// <summary>
    /// Room for the handoff, if the worker has it; when only the processor's view of the store stood in the way, asked
    /// once more after the worker's next look at the store (<see cref="DeliveryProcessor.TryReserve"/>).
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(DeliveryMethodBuilder<>))]
    private static async ValueTask<DateTimeOffset?> ReserveAsync(DeliveryProcessor processor, DeliveryRecord[] records, CancellationToken cancellationToken)
    {
        if (processor.TryReserve(records, out var nextLease) is { } leaseUntil) return leaseUntil;
        if (nextLease is null) return null;
        await nextLease.WaitAsync(cancellationToken).ConfigureAwait(false);
        return processor.TryReserve(records, out _);
    }

    private void Counted(int count, string eventName, string ensemble)
    {
        _telemetry.Enqueued.Add(count, new KeyValuePair<string, object?>("conductor.event", eventName));
        Log.Enqueued(_logger, count, eventName, ensemble);
    }

    private static string[] Ids(DeliveryRecord[] records)
    {
        var ids = new string[records.Length];
        for (var i = 0; i < records.Length; i++) ids[i] = records[i].Id;
        return ids;
    }
}
