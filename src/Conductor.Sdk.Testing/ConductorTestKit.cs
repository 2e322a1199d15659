using System.Text;
using Conductor.Sdk.Delivery;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Sdk.Testing;

/// <summary>Settings of the test kit.</summary>
public sealed class ConductorTestKitOptions
{
    /// <summary>Where the kit's clock starts. Default: the current time, to the second (so that a receiver's ±300 s check accepts the signatures).</summary>
    public DateTimeOffset Start { get; set; } = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    /// <summary>How long a wait gives the app, in wall-clock time, before it fails listing what was sent. Default 5 s.</summary>
    public TimeSpan WaitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Values for <c>${env.NAME}</c> that the test supplies (secrets, receiver URLs); they win over the app's configuration.
    /// </summary>
    public IDictionary<string, string?> Environment { get; } = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The longest step <see cref="ConductorTestKit.AdvanceAsync"/> takes while an endpoint is paused or an attempt hangs,
    /// so that timers (Retry-After holds, circuit breakers, attempt timeouts) end when they would. Default 1 s.
    /// </summary>
    public TimeSpan AdvanceStep { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Refuses settings the kit cannot work with, naming the setting and its value.</summary>
    internal void Validate()
    {
        if (WaitTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(WaitTimeout), WaitTimeout, $"ConductorTestKitOptions.WaitTimeout must be positive (it is {WaitTimeout}): it is how long a wait gives the app before it fails");
        }

        if (AdvanceStep <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(AdvanceStep), AdvanceStep, $"ConductorTestKitOptions.AdvanceStep must be positive (it is {AdvanceStep}): AdvanceAsync moves the clock by at most this while an endpoint is paused or an attempt hangs");
        }

        if (Environment.Keys.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("ConductorTestKitOptions.Environment has an empty name; give the NAME of ${env.NAME}", nameof(Environment));
        }
    }
}

/// <summary>
/// An app in test mode: the in-memory store, every channel's network send captured (webhook, email, SMS, push), and a
/// fake clock that only the test moves. Deliveries are made when the test asks (<see cref="DeliverAsync"/>,
/// <see cref="AdvanceAsync"/>, the waits of <see cref="Webhooks"/>, <see cref="Emails"/>, <see cref="Sms"/> and
/// <see cref="Push"/>), through the real dispatcher, processor, retry schedule and channels, so what a test sees is
/// what production would do. Get it with <c>services.GetConductorTestKit()</c> after
/// <c>services.AddConductorTestKit()</c>.
/// </summary>
public sealed class ConductorTestKit
{
    private readonly List<CapturedSend> _all = new();
    private IServiceProvider? _services;
    private int _hanging;

    internal ConductorTestKit(ConductorTestKitOptions options)
    {
        Options = options;
        Time = new FakeTimeProvider(options.Start);
        Webhooks = new WebhookLog(this);
        Emails = new SendLog<CapturedEmail>(this, "email");
        Sms = new SendLog<CapturedSms>(this, "sms");
        Push = new SendLog<CapturedPush>(this, "push");
    }

    /// <summary>The kit's settings.</summary>
    public ConductorTestKitOptions Options { get; }

    /// <summary>The app's clock. <c>Time.Advance</c> moves it without delivering; <see cref="AdvanceAsync"/> delivers as it goes.</summary>
    public FakeTimeProvider Time { get; }

    /// <summary>Webhooks sent, and the scripts of the receivers that answer them.</summary>
    public WebhookLog Webhooks { get; }

    /// <summary>Emails sent, as rendered for the provider.</summary>
    public SendLog<CapturedEmail> Emails { get; }

    /// <summary>SMS sent, as rendered for the provider.</summary>
    public SendLog<CapturedSms> Sms { get; }

    /// <summary>Push messages sent, as rendered for the provider.</summary>
    public SendLog<CapturedPush> Push { get; }

    /// <summary>Every send of every channel, oldest first.</summary>
    public IReadOnlyList<CapturedSend> Sent
    {
        get
        {
            lock (_all) return _all.ToArray();
        }
    }

    /// <summary>The app's services (available once the kit was resolved from them).</summary>
    public IServiceProvider Services => _services ?? throw new InvalidOperationException("the test kit is not attached yet: resolve it with services.GetConductorTestKit()");

    /// <summary>The app's delivery store (in memory).</summary>
    public IDeliveryStore Store => Services.GetRequiredService<IDeliveryStore>();

    private DeliveryProcessor Processor => Services.GetRequiredService<DeliveryProcessor>();

    /// <summary>
    /// Makes every delivery that is due now (and any that those cause, such as an operational event's notifications),
    /// and returns when nothing more can happen without the clock moving: every attempt recorded, or waiting on the
    /// clock (a scripted time-out). Returns the number of attempts started.
    /// </summary>
    public async Task<int> DeliverAsync(CancellationToken cancellationToken = default)
    {
        var processor = Processor;
        var pump = Services.GetService<OperationalEventPump>();
        var total = 0;
        while (true)
        {
            var started = await processor.StartDueAsync(cancellationToken).ConfigureAwait(false);
            await SettleAsync(processor, cancellationToken).ConfigureAwait(false);
            var events = 0;
            if (pump?.ExecuteTask is { IsCompleted: false })
            {
                // Operational events (a dead letter, a disabled endpoint) may store notifications of their own.
                var idle = pump.WhenIdleAsync();
                events = idle.IsCompleted ? 0 : 1;
                await idle.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            total += started;
            if (started == 0 && events == 0) return total;
        }
    }

    /// <summary>
    /// Moves the clock forward by <paramref name="by"/>, stopping at every due time on the way to make what is due then,
    /// so retries happen at exactly the times of the retry schedule (1 s, 5 s, 30 s, 2 min, 5 min) and a delivery
    /// that runs out of retries is dead-lettered on time.
    /// </summary>
    public async Task AdvanceAsync(TimeSpan by, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        var end = Time.GetUtcNow() + by;
        var processor = Processor;
        await DeliverAsync(cancellationToken).ConfigureAwait(false);
        while (Time.GetUtcNow() is var now && now < end)
        {
            var busy = processor.BusyEndpoints;
            var next = await Store.NextDueAsync(busy, cancellationToken).ConfigureAwait(false);
            // While a timer may end a hold or an attempt (paused endpoints, hanging attempts), step no further than AdvanceStep.
            var limit = busy.Count > 0 || Volatile.Read(ref _hanging) > 0 ? now + Options.AdvanceStep : end;
            var step = next is { } due && due > now && due < limit ? due : limit;
            Time.Advance((step < end ? step : end) - now);
            await DeliverAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A delivery as stored now.</summary>
    public async Task<DeliveryRecord> DeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        await Store.GetAsync(deliveryId, cancellationToken).ConfigureAwait(false)
            ?? throw new ConductorTestKitException($"no delivery '{deliveryId}' is stored");

    /// <summary>A delivery's attempts, oldest first.</summary>
    public async Task<IReadOnlyList<AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        await Store.AttemptsAsync(deliveryId, cancellationToken).ConfigureAwait(false);

    /// <summary>The dead letters, newest first.</summary>
    public async Task<IReadOnlyList<DeliveryRecord>> DeadLettersAsync(CancellationToken cancellationToken = default) =>
        await Store.ListAsync(new DeliveryQuery(Status: DeliveryStatus.DeadLettered, Limit: 1000), cancellationToken).ConfigureAwait(false);

    /// <summary>Replays a dead letter (as the dashboard and the CLI do) and delivers it.</summary>
    public async Task ReplayAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        await Services.GetRequiredService<IDeliveryAdmin>().ReplayAsync(deliveryId, cancellationToken).ConfigureAwait(false);
        await DeliverAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Fails unless every send so far was observed: returned by a wait, <c>Where</c>, <c>Of</c>, <c>To</c> or
    /// <c>Single</c>. Call it after <see cref="DeliverAsync"/> to say "and nothing else was sent".
    /// </summary>
    public void AssertNothingElseSent()
    {
        var others = Sent.Where(s => !s.Observed).ToArray();
        if (others.Length == 0) return;
        var message = new StringBuilder($"expected nothing else to be sent, but {others.Length} other send{(others.Length == 1 ? " was" : "s were")} made:");
        foreach (var send in others) message.Append("\n  ").Append(send);
        throw new ConductorTestKitException(message.ToString());
    }

    /// <summary>Forgets every captured send and every receiver script (for a fixture shared by several tests).</summary>
    public void Clear()
    {
        lock (_all) _all.Clear();
        Webhooks.Clear();
        Webhooks.ClearScripts();
        Emails.Clear();
        Sms.Clear();
        Push.Clear();
    }

    internal void Attach(IServiceProvider services)
    {
        if (_services is not null) return;
        var problems = new List<string>();
        if (services.GetRequiredService<TimeProvider>() != Time) problems.Add("TimeProvider is not the kit's clock");
        if (services.GetRequiredService<IDeliveryStore>() is not InMemoryDeliveryStore) problems.Add("the delivery store is not the in-memory store");
        if (services.GetServices<Email.IEmailProvider>().Any(p => p is not Recorder)) problems.Add("an email provider would send for real");
        if (services.GetServices<Sms.ISmsProvider>().Any(p => p is not Recorder)) problems.Add("an SMS provider would send for real");
        if (services.GetServices<Push.IPushProvider>().Any(p => p is not Recorder)) problems.Add("a push provider would send for real");
        if (problems.Count > 0)
        {
            throw new InvalidOperationException(
                "AddConductorTestKit() must be called after the app's own Conductor registrations (in WebApplicationFactory, from ConfigureTestServices or ConfigureServices): "
                + string.Join("; ", problems));
        }

        _services = services;
    }

    internal void Record<T>(SendLog<T> log, T send) where T : CapturedSend
    {
        lock (_all) _all.Add(send);
        log.Add(send);
    }

    internal void HangStarted() => Interlocked.Increment(ref _hanging);

    internal void HangEnded() => Interlocked.Decrement(ref _hanging);

    internal async Task<IReadOnlyList<T>> WaitAsync<T>(SendLog<T> log, Func<T, bool> match, int count, string description, TimeSpan? timeout, CancellationToken cancellationToken)
        where T : CapturedSend
    {
        var limit = timeout ?? Options.WaitTimeout;
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(limit);
        var signal = Services.GetRequiredService<DeliverySignal>();
        try
        {
            while (true)
            {
                await DeliverAsync(patience.Token).ConfigureAwait(false);
                var found = log.Sent.Where(match).ToArray();
                if (found.Length >= count)
                {
                    foreach (var send in found) send.Observed = true;
                    return found;
                }

                // Nothing more is due: wait for the app to store something (a request still being handled, a background job).
                await signal.WaitAsync(patience.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (patience.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ConductorTestKitException(await DescribeAsync($"expected {description} within {limit.TotalSeconds:0.#} s; found {log.Sent.Count(match)}").ConfigureAwait(false));
        }
    }

    internal string Describe(string headline)
    {
        var message = new StringBuilder(headline);
        var sent = Sent;
        message.Append(sent.Count == 0 ? "\nnothing was sent" : $"\nsent ({sent.Count}):");
        foreach (var send in sent) message.Append("\n  ").Append(send);
        return message.ToString();
    }

    private async Task<string> DescribeAsync(string headline)
    {
        var message = new StringBuilder(Describe(headline));
        var pending = await Store.ListAsync(new DeliveryQuery(Status: DeliveryStatus.Pending, Limit: 50)).ConfigureAwait(false);
        var dead = await Store.ListAsync(new DeliveryQuery(Status: DeliveryStatus.DeadLettered, Limit: 50)).ConfigureAwait(false);
        if (pending.Count > 0)
        {
            message.Append($"\nnot yet sent ({pending.Count}; advance the clock to reach later attempts):");
            foreach (var d in pending) message.Append($"\n  {d.Channel} {d.Event} of '{d.Ensemble}' ({d.Id}) due {d.DueAt:HH:mm:ss.fff} after {d.Attempts} attempt(s){(d.LastError is null ? string.Empty : ", last: " + d.LastError)}");
        }

        if (dead.Count > 0)
        {
            message.Append($"\ndead-lettered ({dead.Count}):");
            foreach (var d in dead) message.Append($"\n  {d.Channel} {d.Event} of '{d.Ensemble}' ({d.Id}) after {d.Attempts} attempt(s): {d.LastError}");
        }

        return message.ToString();
    }

    /// <summary>Waits until every running attempt is recorded, or waits only on the clock (a scripted time-out).</summary>
    private async Task SettleAsync(DeliveryProcessor processor, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + Options.WaitTimeout;
        while (true)
        {
            var idle = processor.WhenIdleAsync();
            if (idle.IsCompleted) return;
            if (DateTime.UtcNow > deadline)
            {
                throw new ConductorTestKitException(Describe(
                    $"{processor.Load.Running} attempt(s) still running after {Options.WaitTimeout.TotalSeconds:0.#} s of wall-clock time: a channel or provider blocks without waiting on the kit's clock"));
            }

            var (running, _, writing) = processor.Load;
            if (writing == 0 && running > 0 && running == Volatile.Read(ref _hanging)) return;
            // A hang is only known once its request reached the receiver: look again shortly.
            await Task.WhenAny(idle, Task.Delay(1, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
