using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.Coyote.Specifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Sdk.Concurrency;

/// <summary>What the scripted channel does with one attempt.</summary>
public enum Step
{
    Deliver,
    Retry,
    Permanent,
    /// <summary>No answer until the attempt's timeout (on the fake clock) or shutdown cancels it.</summary>
    Hang,
    /// <summary>No answer until <see cref="ScriptedChannel.Gate"/> completes (a stalled process), then delivered.</summary>
    Gate,
}

/// <summary>
/// Stands in for the webhook channel: answers by script, and checks at every attempt, in every interleaving Coyote
/// explores, that no delivery has two attempts in flight in this process and that no concurrency limit is exceeded.
/// </summary>
public sealed class ScriptedChannel(Func<DeliveryAttempt, Step> script, int perEndpoint, int total) : INotificationChannel
{
    private readonly object _gate = new();
    private readonly HashSet<string> _inFlight = new();
    private readonly Dictionary<string, int> _running = new();
    private int _total;

    /// <summary>Every attempt seen, in the order they started: (delivery, attempt number, endpoint).</summary>
    public List<(string Id, int Number, string Endpoint)> Started { get; } = new();

    public string Channel => "webhook";

    /// <summary>What <see cref="Step.Gate"/> waits for.</summary>
    public Task Gate { get; init; } = Task.CompletedTask;

    public string EndpointOf(NotificationDefinition notification) => ((WebhookNotificationDefinition)notification).Endpoint;

    public async ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        var id = attempt.Delivery.Id;
        var endpoint = attempt.Delivery.Endpoint;
        lock (_gate)
        {
            Specification.Assert(_inFlight.Add(id), $"two attempts of delivery {id} in flight in one process (attempt {attempt.Number})");
            var running = _running[endpoint] = _running.GetValueOrDefault(endpoint) + 1;
            _total++;
            Specification.Assert(running <= perEndpoint, $"{running} attempts running for endpoint {endpoint}, limit {perEndpoint}");
            Specification.Assert(_total <= total, $"{_total} attempts running, limit {total}");
            Started.Add((id, attempt.Number, endpoint));
        }

        try
        {
            await Task.Yield();
            switch (script(attempt))
            {
                case Step.Deliver:
                    return AttemptResult.Delivered(200);
                case Step.Permanent:
                    return new AttemptResult(AttemptOutcome.Permanent, 410, AttemptErrorKind.HttpStatus, "HTTP 410 Gone");
                case Step.Gate:
                    await Gate;
                    return AttemptResult.Delivered(200);
                case Step.Hang:
                    await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
                    return AttemptResult.Delivered(200);
                default:
                    return new AttemptResult(AttemptOutcome.Retry, 503, AttemptErrorKind.HttpStatus, "HTTP 503 Service Unavailable");
            }
        }
        finally
        {
            lock (_gate)
            {
                _inFlight.Remove(id);
                _running[endpoint]--;
                _total--;
            }
        }
    }
}

/// <summary>One process: the runtime as AddConductor wires it, with the scripted channel, a fake clock and a given store.</summary>
public sealed class Process : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);

    private readonly ServiceProvider _services;
    private DeliveryWorker? _worker;

    public Process(ScriptedChannel channel, FakeTimeProvider time, IDeliveryStore store, IEnumerable<NotificationDefinition> notifications, Action<ConductorOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(new ExceptionLog()));
        services.AddSingleton<TimeProvider>(time);
        var builder = services.AddConductor(configure);
        services.RemoveAll<IDeliveryStore>();
        services.AddSingleton(store);
        services.RemoveAll<INotificationChannel>();
        services.AddSingleton<INotificationChannel>(channel);
        foreach (var notification in notifications) builder.AddNotification(notification);
        _services = services.BuildServiceProvider();
        Channel = channel;
        Time = time;
    }

    public ScriptedChannel Channel { get; }
    public FakeTimeProvider Time { get; }
    public IDeliveryStore Store => _services.GetRequiredService<IDeliveryStore>();
    public NotificationDispatcher Dispatcher => _services.GetRequiredService<NotificationDispatcher>();
    public DeliveryProcessor Processor => _services.GetRequiredService<DeliveryProcessor>();
    public DeliverySignal Signal => _services.GetRequiredService<DeliverySignal>();
    public IDeliveryAdmin Admin => _services.GetRequiredService<IDeliveryAdmin>();
    public EndpointIsolation Isolation => _services.GetRequiredService<EndpointIsolation>();
    public ConductorOptions Options => _services.GetRequiredService<IOptions<ConductorOptions>>().Value;

    /// <summary>The registered webhook notification of <paramref name="ensemble"/>.</summary>
    public WebhookNotificationDefinition Notification(string ensemble) =>
        _services.GetRequiredService<NotificationRegistry>().All.OfType<WebhookNotificationDefinition>().Single(n => n.Ensemble == ensemble);

    public DeliveryWorker? Worker => _worker;

    private CancellationTokenSource? _stopping;
    private Task? _loop;

    /// <summary>
    /// Runs the worker's loop as a task Coyote controls. (BackgroundService.StartAsync, in Microsoft.Extensions.Hosting,
    /// starts it in a way the rewritten runtime does not see as an operation: the loop then never ran under test.)
    /// </summary>
    public Task StartWorkerAsync()
    {
        _worker = _services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<DeliveryWorker>().Single();
        _stopping = new CancellationTokenSource();
        var execute = typeof(DeliveryWorker).GetMethod("ExecuteAsync", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        var worker = _worker;
        var token = _stopping.Token;
        _loop = Task.Run(async () => await (Task)execute.Invoke(worker, [token])!);
        return Task.CompletedTask;
    }

    public string LoopState => $"{_loop?.Status} last round {_worker?.LastLoop:HH:mm:ss.fff} failure {_worker?.LastFailure?.Message}";

    public async Task StopWorkerAsync()
    {
        if (_stopping is { } stopping)
        {
            stopping.Cancel();
            await _loop!;
            stopping.Dispose();
        }

        _stopping = null;
        _loop = null;
        _worker = null;
    }

    public async Task<IReadOnlyList<string>> NotifyAsync(string ensemble, string id) =>
        (await Dispatcher.DispatchAsync(new ExecutionCompleted(Time.GetUtcNow(), ensemble, id, null, 1))).DeliveryIds;

    public async ValueTask DisposeAsync()
    {
        await StopWorkerAsync();
        await _services.DisposeAsync();
    }

    /// <summary>A webhook notification of ensemble <paramref name="ensemble"/> to host <paramref name="host"/>.</summary>
    public static WebhookNotificationDefinition Webhook(string ensemble, string host, int retries = 2, TimeSpan? timeout = null) =>
        new(ensemble, 0, [EventNames.ExecutionCompleted], new Uri($"https://{host}/hooks"), ["secret"], retries, timeout ?? TimeSpan.FromSeconds(5));
}

/// <summary>The invariants every scenario checks when it ends.</summary>
public static class Invariants
{
    /// <summary>
    /// Drives the clock until every delivery is finished (liveness), at most <paramref name="rounds"/> times: each round
    /// lets the worker run, then moves the clock to the next due time.
    /// </summary>
    private static readonly TimeSpan MaxStep = TimeSpan.FromMinutes(10);

    public static async Task SettleAsync(Process process, IReadOnlyCollection<string> ids, int rounds = 400)
    {
        var trace = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.Processor.AttemptRecorded += a => trace.Enqueue($"attempt {a.DeliveryId[^4..]} #{a.Number} {a.Outcome} at {a.StartedAt:HH:mm:ss.fff} next {a.NextDueAt:HH:mm:ss.fff}");
        for (var round = 0; round < rounds; round++)
        {
            if (await AllFinishedAsync(process.Store, ids)) return;
            await QuiescedAsync(process);
            var next = await process.Store.NextDueAsync();
            var now = process.Time.GetUtcNow();
            // At most 10 minutes at a time: an attempt may still be running (Coyote can start one after the idle check), and a
            // jump past its lease would be a stalled process, which scenarios of their own explore.
            var step = next is { } due && due > now ? due - now : TimeSpan.FromSeconds(1);
            trace.Enqueue($"advance {(step < MaxStep ? step : MaxStep)} from {now:HH:mm:ss.fff}");
            process.Time.Advance(step < MaxStep ? step : MaxStep);
        }

        foreach (var id in ids)
        {
            var record = await process.Store.GetAsync(id);
            Specification.Assert(record is not null && record.Status != DeliveryStatus.Pending,
                $"liveness: delivery {id} of '{record?.Ensemble}' to {record?.Endpoint} is still {record?.Status.ToString() ?? "missing"} (busy endpoints: {string.Join(",", process.Processor.BusyEndpoints)}, load {process.Processor.Load}, attempts seen {process.Channel.Started.Count}, logged: {ExceptionLog.Seen.LastOrDefault()}, worker loop {process.LoopState}) after {record?.Attempts} attempt(s), due {record?.DueAt:O}, now {process.Time.GetUtcNow():O}\n" + string.Join("\n", trace.Take(80)));
        }
    }

    /// <summary>
    /// Lets the pipeline run until it waits for the clock: the worker asleep, no signal on its way to it, and no attempt
    /// running or being written (queued ones wait for a slot or for their endpoint's hold to end). Time moves only then, as it would for a process that is idle between events.
    /// A pipeline that never gets there within <paramref name="patience"/> scheduling points of this task is busy without
    /// end (a livelock), which fails the test: no scenario here has an attempt that waits for the clock.
    /// </summary>
    /// <param name="running">Attempts the scenario holds in flight on purpose (a gate it has not opened yet).</param>
    public static async Task QuiescedAsync(Process process, int running = 0, int patience = 20_000)
    {
        for (var i = 0; i < patience; i++)
        {
            // Queued deliveries may wait for the clock too (a paused endpoint's hold); one that waits forever fails liveness.
            // The reads are not one snapshot, so they are bracketed by the processor's change count: an attempt that started
            // or ended, or a lease admitted, between them shows as a change. An attempt that ends wakes the worker under the
            // same lock, so an end before the first read shows in the worker's state.
            var changes = process.Processor.Changes;
            if (process.Processor.Load is var load && load.Running == running && load.Writing == 0 && process.Worker is { Sleeping: true }
                && process.Signal.Waiting && !process.Signal.Pending && process.Processor.Changes == changes) return;
            await Task.Yield();
        }

        Specification.Assert(false, $"the pipeline did not come to rest within {patience} scheduling points: worker {process.LoopState}, load {process.Processor.Load}, signal pending {process.Signal.Pending}");
    }

    private static async Task<bool> AllFinishedAsync(IDeliveryStore store, IReadOnlyCollection<string> ids)
    {
        foreach (var id in ids)
        {
            if (await store.GetAsync(id) is not { Status: not DeliveryStatus.Pending }) return false;
        }

        return true;
    }

    /// <summary>Nothing lost, nothing invented; attempts numbered 1..n; every retry due exactly when the schedule says.</summary>
    /// <param name="retriesOf">The <c>retries:</c> of a delivery's notification.</param>
    /// <param name="replayed">Deliveries that were replayed (their schedule restarts; only numbering is checked).</param>
    /// <param name="lateness">How long after its due time a retry may start (the clock moves only when the pipeline is idle,
    /// so a due retry should start at its due time; one second allows for the worker's quiet-period poll).</param>
    public static async Task CheckStoreAsync(IDeliveryStore store, IReadOnlyCollection<string> ids, Func<string, int> retriesOf, IReadOnlySet<string>? replayed = null, TimeSpan? lateness = null)
    {
        var late = lateness ?? TimeSpan.FromSeconds(1);
        var stored = await store.ListAsync(new DeliveryQuery(Limit: 10_000));
        var storedIds = stored.Select(d => d.Id).ToHashSet();
        Specification.Assert(storedIds.SetEquals(ids), $"stored {string.Join(",", storedIds.Order())} but Notify returned {string.Join(",", ids.Order())}");
        foreach (var id in ids)
        {
            var logs = await store.AttemptsAsync(id);
            for (var i = 0; i < logs.Count; i++)
            {
                Specification.Assert(logs[i].Number == i + 1, $"delivery {id}: attempt #{i + 1} is numbered {logs[i].Number}: " + string.Join("; ", logs.Select(l => $"#{l.Number} at {l.StartedAt:HH:mm:ss} for {l.Duration.TotalSeconds}s {l.Outcome} next {l.NextDueAt:HH:mm:ss}")));
                if (logs[i].NextDueAt is { } due && replayed?.Contains(id) != true)
                {
                    var delay = RetrySchedule.NextDelay(i + 1, retriesOf(id));
                    Specification.Assert(due == logs[i].StartedAt + logs[i].Duration + delay,
                        $"delivery {id}: attempt {i + 1} ended at {logs[i].StartedAt + logs[i].Duration:O} and is due again at {due:O}, the schedule says {delay}");
                    if (i + 1 < logs.Count)
                    {
                        Specification.Assert(logs[i + 1].StartedAt >= due, $"delivery {id}: attempt {i + 2} started at {logs[i + 1].StartedAt:O}, before it was due ({due:O})");
                        Specification.Assert(logs[i + 1].StartedAt <= due + late, $"delivery {id}: attempt {i + 2} started at {logs[i + 1].StartedAt:O}, {(logs[i + 1].StartedAt - due).TotalSeconds:0.#} s after it was due ({due:O})");
                    }
                }
            }
        }
    }
}

/// <summary>Keeps the exceptions the runtime logs (a channel that threw), for failure messages.</summary>
public sealed class ExceptionLog : Microsoft.Extensions.Logging.ILoggerProvider, Microsoft.Extensions.Logging.ILogger
{
    public static readonly System.Collections.Concurrent.ConcurrentQueue<Exception> Seen = new();
    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (exception is not null) Seen.Enqueue(exception);
    }

    public void Dispose()
    {
    }
}
