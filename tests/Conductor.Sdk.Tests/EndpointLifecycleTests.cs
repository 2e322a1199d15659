using System.Collections.Concurrent;
using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #35: a dead endpoint is paused while its breaker is open (its backlog stays untouched in the store), endpoints
/// go failing → disabled after <c>DisableAfter</c> and back when enabled, a 410 disables at once, a 429's Retry-After
/// postpones the endpoint, a rate limit spaces attempts, and the state changes are operational events that reach C#
/// observers and YAML notifications.
/// </summary>
public sealed class EndpointLifecycleTests
{
    private static WebhookNotificationDefinition Webhook(string ensemble, Uri url, int retries = 0, string[]? events = null, RateLimit? rate = null) =>
        new(ensemble, 0, events ?? new[] { EventNames.ExecutionCompleted }, url, new[] { "s" }, retries, TimeSpan.FromSeconds(5)) { RateLimit = rate };

    private static Task WaitUntilAsync(Func<Task<bool>> condition) => WorkerProcess.WaitUntilAsync(condition, TimeSpan.FromSeconds(10), "the condition");

    private static Task WaitUntilAsync(Func<bool> condition) => WorkerProcess.WaitUntilAsync(condition, TimeSpan.FromSeconds(10), "the condition");

    /// <summary>Counts the store calls that touch single rows (a dead endpoint must cause none per stored delivery).</summary>
    private sealed class CountingStore(InMemoryDeliveryStore inner) : DelegatingStore(inner), IEndpointStateStore
    {
        public int Leased;
        public readonly ConcurrentBag<string> LeasedEndpoints = new();

        public override async ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default)
        {
            var leased = await inner.LeaseDueAsync(now, max, leaseUntil, skipEndpoints, cancellationToken);
            Interlocked.Add(ref Leased, leased.Count);
            foreach (var d in leased) LeasedEndpoints.Add(d.Endpoint);
            return leased;
        }

        public ValueTask<IReadOnlyList<EndpointState>> EndpointsAsync(CancellationToken cancellationToken = default) => inner.EndpointsAsync(cancellationToken);
        public ValueTask<(EndpointState State, bool Started)> RecordEndpointFailuresAsync(string endpoint, DateTimeOffset at, long attempts, long deliveries, string? error, CancellationToken cancellationToken = default) => inner.RecordEndpointFailuresAsync(endpoint, at, attempts, deliveries, error, cancellationToken);
        public ValueTask<bool> RecordEndpointSuccessAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default) => inner.RecordEndpointSuccessAsync(endpoint, at, cancellationToken);
        public ValueTask<bool> DisableEndpointAsync(string endpoint, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) => inner.DisableEndpointAsync(endpoint, at, reason, cancellationToken);
        public ValueTask<bool> EnableEndpointAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default) => inner.EnableEndpointAsync(endpoint, at, cancellationToken);
        public ValueTask<IReadOnlyList<EndpointBacklog>> EndpointBacklogAsync(DateTimeOffset now, CancellationToken cancellationToken = default) => inner.EndpointBacklogAsync(now, cancellationToken);
    }

    /// <summary>Collects operational events (registered as an observer).</summary>
    private sealed class Observer : IOperationalEventObserver
    {
        public readonly ConcurrentQueue<OperationalEvent> Events = new();

        public ValueTask OnEventAsync(OperationalEvent operationalEvent, CancellationToken cancellationToken)
        {
            Events.Enqueue(operationalEvent);
            return default;
        }

        public string[] Names => Events.Select(e => e.Name + " " + e.Endpoint).ToArray();
    }

    [Fact]
    public async Task While_a_dead_endpoints_breaker_is_open_its_backlog_is_not_leased_and_one_probe_is_sent_per_break()
    {
        var healed = false;
        await using var dead = await Receiver.StartAsync((_, _) => Volatile.Read(ref healed) ? Reply.Status(200) : Reply.Status(500));
        await using var healthy = await Receiver.StartAsync(Reply.Status(200));
        var store = new CountingStore(new InMemoryDeliveryStore());
        await using var pipeline = Pipeline.Create(
            new[] { Webhook("dead", dead.Url(), retries: 5), Webhook("fine", healthy.Url()) },
            options =>
            {
                options.CircuitBreakerMinimumThroughput = 2;
                options.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(30);
            },
            store: () => store);

        for (var i = 0; i < 2; i++)
        {
            await pipeline.CompletedAsync("dead", $"d{i}");
            await pipeline.Processor.RunDueAsync();
        }

        Assert.Equal(2, dead.Count); // the breaker is open now
        var backlog = new List<string>();
        for (var i = 0; i < 200; i++) backlog.AddRange((await pipeline.CompletedAsync("dead", $"b{i}")).DeliveryIds);
        var fine = (await pipeline.CompletedAsync("fine", "ok")).DeliveryIds.Single();
        var leasedBefore = store.Leased;
        for (var round = 0; round < 5; round++) await pipeline.Processor.RunDueAsync();

        // The healthy endpoint is served; the dead one's 200 stored deliveries were never leased, attempted or rewritten.
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(fine)).Status);
        Assert.Equal(leasedBefore + 1, store.Leased);
        Assert.Equal(2, dead.Count);
        foreach (var id in backlog)
        {
            var record = await pipeline.RecordAsync(id);
            Assert.Equal((DeliveryStatus.Pending, 0, Pipeline.Start), (record.Status, record.Attempts, record.DueAt));
        }

        // When the break ends, one probe goes out (not 8 at once); it fails, and the endpoint is paused again.
        pipeline.Time.Advance(TimeSpan.FromSeconds(30));
        await pipeline.Processor.RunDueAsync();
        await WaitUntilAsync(() => dead.Count == 3);
        await pipeline.Processor.WhenIdleAsync();
        Assert.Equal(3, dead.Count);
        for (var round = 0; round < 3; round++) await pipeline.Processor.RunDueAsync();
        Assert.Equal(3, dead.Count);

        // The receiver recovers: the next probe delivers, the breaker closes, and the whole backlog is sent.
        Volatile.Write(ref healed, true);
        pipeline.Time.Advance(TimeSpan.FromSeconds(30));
        await WaitUntilAsync(async () =>
        {
            await pipeline.Processor.RunDueAsync();
            // The backlog and the two deliveries that opened the breaker (retried).
            return (await pipeline.Store.ListAsync(new DeliveryQuery(Ensemble: "dead", Status: DeliveryStatus.Delivered, Limit: 500))).Count == 202;
        });
    }

    [Fact]
    public async Task An_endpoint_failing_for_DisableAfter_is_disabled_keeps_its_deliveries_and_sends_them_in_order_when_enabled()
    {
        var healed = false;
        await using var dead = await Receiver.StartAsync((_, _) => Volatile.Read(ref healed) ? Reply.Status(200) : Reply.Status(503));
        await using var ops = await Receiver.StartAsync(Reply.Status(200));
        var observer = new Observer();
        await using var pipeline = Pipeline.Create(
            new[]
            {
                Webhook("orders", dead.Url(), retries: 5),
                // Operations hear about endpoints through an ordinary notification of another ensemble.
                Webhook("ops", ops.Url("/ops"), events: new[] { OperationalEventNames.EndpointDisabled, OperationalEventNames.EndpointEnabled, OperationalEventNames.EndpointFailing }),
            },
            options =>
            {
                options.CircuitBreakerMinimumThroughput = 1000;
                // One at a time, so the order the receiver sees is the order they were started in.
                options.MaxConcurrentPerEndpoint = 1;
            },
            services: s => s.AddSingleton<IOperationalEventObserver>(observer));
        var pump = pipeline.Services.GetRequiredService<OperationalEventPump>();
        await pump.StartAsync(CancellationToken.None);
        var lifecycle = pipeline.Services.GetRequiredService<EndpointLifecycle>();
        var admin = pipeline.Services.GetRequiredService<IEndpointAdmin>();
        var endpoint = new Uri(dead.Url().GetLeftPart(UriPartial.Authority)).ToString().TrimEnd('/');
        try
        {
            var ids = new List<string>();
            for (var i = 0; i < 3; i++) ids.AddRange((await pipeline.CompletedAsync("orders", $"o{i}")).DeliveryIds);
            await pipeline.Processor.RunDueAsync();
            Assert.Equal(3, dead.Count);
            await WaitUntilAsync(async () => (await admin.ListAsync()).Single(e => e.Endpoint == endpoint).Health == EndpointHealth.Failing);

            // Four days later it still fails; not yet five.
            pipeline.Time.Advance(TimeSpan.FromDays(4));
            await pipeline.Processor.RunDueAsync();
            var status = (await lifecycle.CheckAsync()).Endpoints.Single(e => e.Endpoint == endpoint);
            Assert.Equal(EndpointHealth.Failing, status.Health);
            Assert.InRange(status.State.FailingSince!.Value, Pipeline.Start, Pipeline.Start.AddSeconds(1));
            Assert.Equal(6, status.State.FailedAttempts);
            Assert.Equal(3, status.State.FailedDeliveries);

            pipeline.Time.Advance(TimeSpan.FromDays(1));
            status = (await lifecycle.CheckAsync()).Endpoints.Single(e => e.Endpoint == endpoint);
            Assert.Equal(EndpointHealth.Disabled, status.Health);
            Assert.Contains("every attempt failed for 5 days", status.State.DisabledReason);
            Assert.Contains("HTTP 503", status.State.DisabledReason);

            // Disabled: kept, not attempted, even as new ones arrive and time passes.
            ids.AddRange((await pipeline.CompletedAsync("orders", "o3")).DeliveryIds);
            var attempts = dead.Count;
            for (var hour = 0; hour < 3; hour++)
            {
                pipeline.Time.Advance(TimeSpan.FromHours(1));
                await pipeline.Processor.RunDueAsync();
            }

            Assert.Equal(attempts, dead.Count);
            foreach (var id in ids) Assert.Equal(DeliveryStatus.Pending, (await pipeline.RecordAsync(id)).Status);
            Assert.Equal(4, (await lifecycle.CheckAsync()).Endpoints.Single(e => e.Endpoint == endpoint).Due);

            // Enabled again: every kept delivery is sent, oldest due first.
            Volatile.Write(ref healed, true);
            Assert.True(await admin.EnableAsync(endpoint));
            Assert.False(await admin.EnableAsync(endpoint));
            await pipeline.Processor.RunDueAsync();
            foreach (var id in ids) Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
            var sent = dead.Requests.Skip(attempts).Select(r => r.Header("X-Conductor-Delivery-Id")).ToList();
            Assert.Equal(ids.Count, sent.Count);
            Assert.Equal("o3", JsonDocument.Parse(dead.Requests.Last().Body).RootElement.GetProperty("data").GetProperty("id").GetString());

            // The C# observer and the YAML notification both saw failing, disabled and enabled.
            await pump.WhenIdleAsync();
            Assert.Equal(new[] { $"endpoint.failing {endpoint}", $"endpoint.disabled {endpoint}", $"endpoint.enabled {endpoint}" }, observer.Names);
            await WaitUntilAsync(async () =>
            {
                await pipeline.Processor.RunDueAsync();
                return ops.Count == 3;
            });
            var disabledBody = JsonDocument.Parse(ops.Requests.Single(r => r.Header("X-Conductor-Event") == "endpoint.disabled").Body).RootElement;
            var data = disabledBody.GetProperty("data");
            Assert.Equal(("ops", endpoint, "disabled"), (data.GetProperty("ensemble").GetString(), data.GetProperty("endpoint").GetString(), data.GetProperty("state").GetString()));
            Assert.Contains("every attempt failed", data.GetProperty("reason").GetString());
            Assert.Equal(6, data.GetProperty("failedAttempts").GetInt64());
        }
        finally
        {
            await pump.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_410_Gone_dead_letters_its_delivery_and_marks_the_endpoint_failing_but_other_urls_of_the_host_still_deliver()
    {
        // One receiver, two URLs: one retired (410), one alive. The endpoint (scheme, host and port) is shared.
        await using var receiver = await Receiver.StartAsync((request, _) => request.Path == "/retired" ? Reply.Status(410) : Reply.Status(200));
        var observer = new Observer();
        await using var pipeline = Pipeline.Create(new[] { Webhook("retired", receiver.Url("/retired"), retries: 3), Webhook("alive", receiver.Url("/alive")) },
            services: s => s.AddSingleton<IOperationalEventObserver>(observer));
        var pump = pipeline.Services.GetRequiredService<OperationalEventPump>();
        await pump.StartAsync(CancellationToken.None);
        try
        {
            var gone = (await pipeline.CompletedAsync("retired", "a")).DeliveryIds.Single();
            await pipeline.Processor.RunDueAsync();
            var record = await pipeline.RecordAsync(gone);
            Assert.Equal((DeliveryStatus.DeadLettered, 1), (record.Status, record.Attempts)); // no retry
            var admin = pipeline.Services.GetRequiredService<IEndpointAdmin>();
            await WaitUntilAsync(async () => (await admin.ListAsync()).Single().Health == EndpointHealth.Failing);
            Assert.Contains("410", (await admin.ListAsync()).Single().State.LastError);

            // The other URL of the same host is still attempted, delivers, and the endpoint is healthy again.
            var alive = (await pipeline.CompletedAsync("alive", "b")).DeliveryIds.Single();
            await pipeline.Processor.RunDueAsync();
            Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(alive)).Status);
            await WaitUntilAsync(async () => (await admin.ListAsync()).Single().Health == EndpointHealth.Healthy);

            await pump.WhenIdleAsync();
            var dead = Assert.Single(observer.Events, e => e.Name == OperationalEventNames.DeliveryDeadLettered);
            Assert.Equal((gone, 410), (dead.Delivery!.Id, dead.Attempt!.StatusCode));
            Assert.Contains(observer.Events, e => e.Name == OperationalEventNames.EndpointFailing);
            Assert.DoesNotContain(observer.Events, e => e.Name == OperationalEventNames.EndpointDisabled);
        }
        finally
        {
            await pump.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_429_with_Retry_After_postpones_the_whole_endpoint()
    {
        await using var busy = await Receiver.StartAsync(Reply.Status(429, ("Retry-After", "60")), Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { Webhook("orders", busy.Url(), retries: 3) });
        var first = (await pipeline.CompletedAsync("orders", "a")).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(1, busy.Count);

        var later = new List<string>();
        for (var i = 0; i < 5; i++) later.AddRange((await pipeline.CompletedAsync("orders", $"b{i}")).DeliveryIds);
        pipeline.Time.Advance(TimeSpan.FromSeconds(59));
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(1, busy.Count); // nothing goes to that receiver before its Retry-After

        pipeline.Time.Advance(TimeSpan.FromSeconds(1));
        await pipeline.Processor.RunDueAsync();
        await WaitUntilAsync(() => busy.Count == 7);
        await pipeline.Processor.WhenIdleAsync();
        foreach (var id in later.Append(first)) Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
    }

    [Fact]
    public async Task A_rate_limit_allows_a_burst_of_its_count_then_one_attempt_per_interval()
    {
        await using var limited = await Receiver.StartAsync(Reply.Status(200));
        await using var free = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[]
        {
            Webhook("limited", limited.Url(), rate: new RateLimit(5, TimeSpan.FromSeconds(1))),
            Webhook("free", free.Url()),
        });
        for (var i = 0; i < 20; i++)
        {
            await pipeline.CompletedAsync("limited", $"l{i}");
            await pipeline.CompletedAsync("free", $"f{i}");
        }

        // Started, not awaited: the limited endpoint's queue waits for its permits on the fake clock.
        await pipeline.Processor.StartDueAsync();
        await WaitUntilAsync(() => free.Count == 20 && limited.Count == 5);
        Assert.Equal(5, limited.Count);
        for (var step = 1; step <= 15; step++)
        {
            pipeline.Time.Advance(TimeSpan.FromMilliseconds(200));
            await WaitUntilAsync(() => limited.Count == 5 + step);
            await Task.Delay(20);
            Assert.Equal(5 + step, limited.Count);
        }
    }

    [Fact]
    public void Endpoint_options_default_to_5_days_and_bind_from_configuration()
    {
        var defaults = new ConductorOptions().Endpoints;
        Assert.Equal((TimeSpan.FromDays(5), 3, TimeSpan.FromSeconds(15), TimeSpan.FromMinutes(15)),
            (defaults.DisableAfter, defaults.DisableAfterFailedDeliveries, defaults.CheckInterval, defaults.BacklogAgeThreshold));
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Conductor:Endpoints:DisableAfter"] = "2.00:00:00",
            ["Conductor:Endpoints:CheckInterval"] = "00:00:05",
            ["Conductor:Endpoints:DisableAfterFailedDeliveries"] = "10",
        });
        builder.Services.AddConductor().UseInMemoryStore();
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<ConductorOptions>>().Value.Endpoints;
        Assert.Equal((TimeSpan.FromDays(2), TimeSpan.FromSeconds(5), 10), (options.DisableAfter, options.CheckInterval, options.DisableAfterFailedDeliveries));
    }

    [Fact]
    public async Task A_YAML_ensemble_routes_operational_events_to_its_channels_and_its_rate_limit_reaches_the_worker()
    {
        var services = new ServiceCollection();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Pipeline.Start);
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(RunnerTests.OtherEnsembles).Build());
        services.AddConductor().UseInMemoryStore().AddEnsembles();
        await using var provider = services.BuildServiceProvider();
        var ops = provider.GetRequiredService<NotificationRegistry>().ForEnsemble(Ensembles.EndpointOpsEnsemble.Name);
        Assert.Equal(new RateLimit(20, TimeSpan.FromSeconds(1)), ops[0].RateLimit);
        Assert.Null(ops[1].RateLimit);

        var pump = provider.GetRequiredService<OperationalEventPump>();
        await pump.StartAsync(CancellationToken.None);
        try
        {
            Assert.True(await provider.GetRequiredService<IEndpointAdmin>().DisableAsync("https://hooks.example.com", "maintenance until Monday"));
            await pump.WhenIdleAsync();
            var stored = await provider.GetRequiredService<IDeliveryStore>().ListAsync(new DeliveryQuery(Ensemble: "endpoint-ops"));
            Assert.Equal(new[] { "email", "webhook" }, stored.Select(d => d.Channel).Order());
            Assert.All(stored, d => Assert.Equal(OperationalEventNames.EndpointDisabled, d.Event));
            var body = JsonDocument.Parse(stored.Single(d => d.Channel == "webhook").Payload).RootElement;
            Assert.Equal("endpoint.disabled", body.GetProperty("event").GetString());
            Assert.Equal(("endpoint-ops", "https://hooks.example.com", "disabled", "maintenance until Monday"),
                (body.GetProperty("data").GetProperty("ensemble").GetString(), body.GetProperty("data").GetProperty("endpoint").GetString(),
                 body.GetProperty("data").GetProperty("state").GetString(), body.GetProperty("data").GetProperty("reason").GetString()));

            // The email's subject renders the event's data through the compiled template.
            var email = (Notifications.EmailNotificationDefinition)ops[1];
            var rendered = email.Subject.Render(new Conductor.Sdk.Ensembles.TemplateContext("endpoint-ops", EventPayload.Deserialize(stored.Single(d => d.Channel == "email").Payload), Conductor.Sdk.Ensembles.EnsembleEnvironment.Empty));
            Assert.Equal("endpoint.disabled: https://hooks.example.com (maintenance until Monday)", rendered);
        }
        finally
        {
            await pump.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task The_endpoint_check_publishes_backlog_oldest_due_age_and_state_gauges()
    {
        await using var pipeline = Pipeline.Create(Array.Empty<NotificationDefinition>());
        var store = pipeline.Store;
        await store.EnqueueAsync(new[]
        {
            new DeliveryRecord("dlv_a", "orders", EventNames.ExecutionFailed, "orders#0", "webhook", "https://slow.example.com", new byte[] { 1 }, Pipeline.Start, Pipeline.Start, DeliveryStatus.Pending, 0, 4),
            new DeliveryRecord("dlv_b", "orders", EventNames.ExecutionFailed, "orders#0", "webhook", "https://slow.example.com", new byte[] { 1 }, Pipeline.Start, Pipeline.Start.AddMinutes(1), DeliveryStatus.Pending, 0, 4),
        });
        await ((IEndpointStateStore)store).RecordEndpointFailuresAsync("https://slow.example.com", Pipeline.Start, 3, 2, "HTTP 502");
        pipeline.Time.Advance(TimeSpan.FromMinutes(2));
        await pipeline.Services.GetRequiredService<EndpointLifecycle>().CheckAsync();

        var seen = new ConcurrentDictionary<string, double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Conductor.Sdk" && instrument.Name.StartsWith("conductor.endpoint.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        void Record(System.Diagnostics.Metrics.Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var key = instrument.Name;
            foreach (var tag in tags) key += $" {tag.Key}={tag.Value}";
            seen[key] = value;
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(2, seen["conductor.endpoint.backlog conductor.endpoint=https://slow.example.com"]);
        Assert.Equal(120, seen["conductor.endpoint.oldest_due_age conductor.endpoint=https://slow.example.com"]);
        Assert.Equal(1, seen["conductor.endpoint.state conductor.endpoint=https://slow.example.com conductor.state=failing"]);
    }

    [Fact]
    public async Task An_endpoint_another_process_saw_failing_is_made_healthy_by_a_delivery_of_this_process()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { Webhook("orders", receiver.Url()) });
        var endpoint = receiver.BaseAddress.GetLeftPart(UriPartial.Authority);
        var states = (IEndpointStateStore)pipeline.Store;
        // Another process recorded failures (through the shared store).
        await states.RecordEndpointFailuresAsync(endpoint, Pipeline.Start, 4, 4, "HTTP 503");
        var lifecycle = pipeline.Services.GetRequiredService<EndpointLifecycle>();
        await lifecycle.CheckAsync();

        await pipeline.CompletedAsync("orders", "ok");
        await pipeline.Processor.RunDueAsync();
        await WaitUntilAsync(async () => (await states.EndpointsAsync()).Single().Health == EndpointHealth.Healthy);

        // Five days later nothing disables it: it delivers.
        pipeline.Time.Advance(TimeSpan.FromDays(6));
        await lifecycle.CheckAsync();
        Assert.Equal(EndpointHealth.Healthy, (await states.EndpointsAsync()).Single().Health);
    }

    [Fact]
    public void A_rate_limit_built_in_code_refuses_a_count_below_1_or_a_period_that_is_not_positive()
    {
        var count = Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimit(0, TimeSpan.FromSeconds(1)));
        Assert.Contains("at least 1 attempt per period (it is 0)", count.Message);
        var period = Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimit(5, TimeSpan.Zero));
        Assert.Contains("period must be positive", period.Message);
        Assert.Equal(TimeSpan.FromMilliseconds(20), new RateLimit(50, TimeSpan.FromSeconds(1)).Interval);
    }
}
