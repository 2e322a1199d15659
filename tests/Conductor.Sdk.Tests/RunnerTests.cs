using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Runner;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Ensembles;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The ensemble runner on the generated <c>order-pipeline</c> flow: steps in order, conditions, step input, state,
/// outputs, and every lifecycle event dispatched (in order, with its data) through the same path as Notify.
/// </summary>
public sealed class RunnerTests
{
    /// <summary>What the test agents do in one test.</summary>
    public sealed class Script
    {
        public bool Valid { get; set; } = true;
        public Exception? ChargeThrows { get; set; }
        public bool ShipHangs { get; set; }
        public List<string> Calls { get; } = new();
        public JsonElement? ShipInput { get; set; }
        public string? Carrier { get; set; } = "ups";
        public string? TrackingNumber { get; set; } = "1Z999";
        public bool ShipReturnsNull { get; set; }
    }

    public sealed class ValidateOrder(Script script) : OrderPipelineEnsemble.IValidateOrderAgent
    {
        public ValueTask<OrderPipelineEnsemble.ValidateOrderOutput> RunAsync(OrderPipelineEnsemble.Input input, AgentContext context, CancellationToken cancellationToken)
        {
            script.Calls.Add(context.Agent);
            context.State.Set("stage", "validated");
            return ValueTask.FromResult(new OrderPipelineEnsemble.ValidateOrderOutput { Valid = script.Valid });
        }
    }

    public sealed class ChargeCard(Script script) : OrderPipelineEnsemble.IChargeCardAgent
    {
        public ValueTask<OrderPipelineEnsemble.ChargeCardOutput> RunAsync(OrderPipelineEnsemble.Input input, AgentContext context, CancellationToken cancellationToken)
        {
            script.Calls.Add(context.Agent);
            if (script.ChargeThrows is { } error) throw error;
            Assert.Equal(true, context.Previous?.GetProperty("valid").GetBoolean());
            return ValueTask.FromResult(new OrderPipelineEnsemble.ChargeCardOutput { Receipt = "rcpt-42", Carrier = script.Carrier! });
        }
    }

    public sealed class ShipOrder(Script script) : OrderPipelineEnsemble.IShipOrderAgent
    {
        public async ValueTask<OrderPipelineEnsemble.ShipOrderOutput> RunAsync(OrderPipelineEnsemble.Input input, AgentContext context, CancellationToken cancellationToken)
        {
            script.Calls.Add(context.Agent);
            script.ShipInput = context.StepInput;
            // Does not change the state: no state.updated after this step.
            if (script.ShipHangs) await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            if (script.ShipReturnsNull) return null!;
            return new OrderPipelineEnsemble.ShipOrderOutput { TrackingNumber = script.TrackingNumber! };
        }
    }

    /// <summary>Configuration the test project's other ensembles need at start-up (none of it is used here).</summary>
    public static readonly IReadOnlyDictionary<string, string?> OtherEnsembles = new Dictionary<string, string?>(HealthCheckEnvironment)
    {
        ["ONBOARDING_WEBHOOK_URL"] = "https://hooks.example.com/onboarding",
        ["WEBHOOK_SECRET"] = "unused-secret",
    };

    /// <summary>What server-health-check needs (tests of other ensembles add it so that start-up succeeds).</summary>
    public static IReadOnlyDictionary<string, string?> HealthCheckEnvironment => new Dictionary<string, string?>
    {
        ["TWILIO_ACCOUNT_SID"] = "AC00000000000000000000000000000000",
        ["TWILIO_AUTH_TOKEN"] = "unused-token",
        ["TWILIO_PHONE_NUMBER"] = "+15005550006",
        ["ONCALL_PHONE"] = "+14155550100",
        ["ORDERS_CC"] = "audit@example.com",
        ["OPS_WEBHOOK_SECRET"] = "ops-secret",
    };

    private static (ServiceProvider Services, InMemoryDeliveryStoreProbe Store, Script Script, FakeTimeProvider Time) Build(Action<Script>? configure = null, Action<IServiceCollection>? configureServices = null)
    {
        var time = new FakeTimeProvider(Pipeline.Start);
        var script = new Script();
        configure?.Invoke(script);
        var store = new InMemoryDeliveryStoreProbe();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(OtherEnsembles).Build());
        services.AddSingleton(script);
        services.AddConductor().UseInMemoryStore()
            .AddEnsembles()
            .AddOrderPipeline(agents => agents
                .ValidateOrder<ValidateOrder>()
                .ChargeCard<ChargeCard>()
                .ShipOrder<ShipOrder>());
        services.AddSingleton<IDeliveryStore>(store);
        configureServices?.Invoke(services);
        return (services.BuildServiceProvider(validateScopes: true), store, script, time);
    }

    private static OrderPipelineEnsemble.Input Input(string orderId = "ord-7", int amount = 25) => new() { OrderId = orderId, Amount = amount, Email = "buyer@example.com" };

    private static List<(string Event, JsonElement Data)> Events(InMemoryDeliveryStoreProbe store) =>
        store.Enqueued.Where(d => !d.Event.StartsWith("operation:", StringComparison.Ordinal)).Select(d =>
        {
            using var document = JsonDocument.Parse(d.Payload);
            return (d.Event, document.RootElement.GetProperty("data").Clone());
        }).ToList();

    /// <summary>Issue #21: a flow run inside <see cref="ConductorOutbox.Enlist"/> stores its events with the application's transaction.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_run_inside_the_outbox_commits_or_rolls_back_its_events_with_the_application(bool commit)
    {
        var directory = Path.Combine(Path.GetTempPath(), "conductor-run-outbox-" + Guid.NewGuid().ToString("N"));
        var file = Path.Combine(directory, "app.db");
        try
        {
            var (services, _, _, _) = Build(configureServices: s => s.AddSingleton<IDeliveryStore>(_ => new SqliteDeliveryStore(file)));
            await using var _ = services;
            var store = services.GetRequiredService<IDeliveryStore>();
            await using (var application = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False"))
            {
                await application.OpenAsync();
                await using var transaction = await application.BeginTransactionAsync();
                ExecutionResult<OrderPipelineEnsemble.Output> result;
                using (ConductorOutbox.Enlist(transaction))
                {
                    result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());
                }

                Assert.Equal(ExecutionStatus.Completed, result.Status);
                if (commit) await transaction.CommitAsync();
                else await transaction.RollbackAsync();
            }

            var stored = await store.ListAsync(new DeliveryQuery(Limit: 100));
            if (commit)
            {
                Assert.Contains(stored, d => d.Event == EventNames.ExecutionStarted);
                Assert.Contains(stored, d => d.Event == EventNames.ExecutionCompleted);
                Assert.Contains(stored, d => d.Event.StartsWith("operation:", StringComparison.Ordinal));
            }
            else
            {
                Assert.Empty(stored);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_three_step_flow_emits_every_lifecycle_event_in_order_with_its_data()
    {
        var (services, store, script, _) = Build();
        await using var _ = services;
        var ensemble = services.GetRequiredService<OrderPipelineEnsemble>();

        var result = await ensemble.RunAsync(Input());

        Assert.Equal(ExecutionStatus.Completed, result.Status);
        Assert.Equal(new[] { "validate-order", "charge-card", "ship-order" }, script.Calls);
        Assert.Equal(new[] { "validate-order", "charge-card", "ship-order", "send-receipt" }, result.ExecutedSteps);
        Assert.True(result.Output!.Charged);
        Assert.Equal("rcpt-42", result.Output.Receipt);
        Assert.Equal("1Z999", result.Output.TrackingNumber);
        // Step input rendered from the run's input and the previous step's output.
        Assert.Equal("""{"orderId":"ord-7","carrier":"ups"}""", script.ShipInput!.Value.GetRawText());

        var events = Events(store);
        Assert.Equal(new[]
        {
            EventNames.ExecutionStarted,
            EventNames.AgentCompleted, EventNames.StateUpdated,
            EventNames.AgentCompleted,
            EventNames.AgentCompleted,
            EventNames.ExecutionCompleted,
        }, events.Select(e => e.Event));
        Assert.All(store.Enqueued.Where(d => d.Channel == "email" && !d.Event.StartsWith("operation:", StringComparison.Ordinal)), d => Assert.Equal("order-pipeline#0", d.NotificationKey));

        var started = events[0].Data;
        Assert.Equal("order-pipeline", started.GetProperty("ensemble").GetString());
        Assert.Equal(result.ExecutionId, started.GetProperty("id").GetString());
        Assert.StartsWith("exec_", result.ExecutionId);
        Assert.Equal("""{"orderId":"ord-7","amount":25,"email":"buyer@example.com"}""", started.GetProperty("input").GetRawText());

        Assert.Equal("validate-order", events[1].Data.GetProperty("agent").GetString());
        Assert.Equal(result.ExecutionId, events[1].Data.GetProperty("executionId").GetString());
        Assert.Equal("""{"valid":true}""", events[1].Data.GetProperty("output").GetRawText());
        Assert.Equal("""{"stage":"validated"}""", events[2].Data.GetProperty("state").GetRawText());
        Assert.Equal("charge-card", events[3].Data.GetProperty("agent").GetString());
        Assert.Equal("ship-order", events[4].Data.GetProperty("agent").GetString());

        var completed = events[5].Data;
        Assert.Equal("completed", completed.GetProperty("status").GetString());
        Assert.Equal("""{"charged":true,"receipt":"rcpt-42","trackingNumber":"1Z999"}""", completed.GetProperty("output").GetRawText());
        Assert.Equal(0, completed.GetProperty("duration").GetInt64());
    }

    [Fact]
    public async Task A_false_condition_skips_the_step_and_executed_is_false()
    {
        var (services, store, script, _) = Build(s => s.Valid = false);
        await using var _ = services;

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());

        Assert.Equal(ExecutionStatus.Completed, result.Status);
        Assert.Equal(new[] { "validate-order", "ship-order" }, script.Calls);
        Assert.Equal(new[] { "validate-order", "ship-order" }, result.ExecutedSteps);
        Assert.DoesNotContain(store.Enqueued, d => d.Event == "operation:send-receipt");
        Assert.False(result.Output!.Charged);
        Assert.Null(result.Output.Receipt);
        // previous = the skipped step: its output is empty.
        Assert.Equal("""{"orderId":"ord-7","carrier":""}""", script.ShipInput!.Value.GetRawText());
        var completed = Events(store).Single(e => e.Event == EventNames.ExecutionCompleted).Data;
        Assert.Equal("""{"charged":false,"receipt":null,"trackingNumber":"1Z999"}""", completed.GetProperty("output").GetRawText());
        Assert.Equal(2, Events(store).Count(e => e.Event == EventNames.AgentCompleted));
    }

    [Fact]
    public async Task Each_run_is_counted_by_ensemble_and_status_with_its_duration()
    {
        var (services, _, _, _) = Build(s => s.ChargeThrows = new InvalidOperationException("declined"));
        await using var _ = services;
        var meter = services.GetRequiredService<Conductor.Sdk.Diagnostics.ConductorTelemetry>().Meter;
        var seen = new System.Collections.Concurrent.ConcurrentQueue<(string Instrument, string? Ensemble, string? Status)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name.StartsWith("conductor.execution", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        void Record(System.Diagnostics.Metrics.Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? ensemble = null, status = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "conductor.ensemble") ensemble = tag.Value as string;
                if (tag.Key == "conductor.status") status = tag.Value as string;
            }

            seen.Enqueue((instrument.Name, ensemble, status));
        }

        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) => Record(instrument, tags));
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Record(instrument, tags));
        listener.Start();

        await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());

        Assert.Equal(new (string, string?, string?)[] { ("conductor.executions", "order-pipeline", "failed"), ("conductor.execution.duration", "order-pipeline", "failed") }, seen.ToArray());
    }

    [Fact]
    public async Task A_throwing_agent_fails_the_run_with_its_message_and_type()
    {
        var (services, store, script, _) = Build(s => s.ChargeThrows = new InvalidOperationException("card declined"));
        await using var _ = services;

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());

        Assert.Equal(ExecutionStatus.Failed, result.Status);
        Assert.Equal(new[] { "validate-order", "charge-card" }, script.Calls);
        Assert.Equal("card declined", result.Error!.Message);
        var events = Events(store);
        Assert.Equal(new[] { EventNames.ExecutionStarted, EventNames.AgentCompleted, EventNames.StateUpdated, EventNames.ExecutionFailed }, events.Select(e => e.Event));
        var failed = events[^1].Data;
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Equal("card declined", failed.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("System.InvalidOperationException", failed.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(result.ExecutionId, failed.GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_slow_agent_past_the_timeout_produces_execution_timeout()
    {
        var (services, store, script, time) = Build(s => s.ShipHangs = true);
        await using var _ = services;

        var run = services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());
        Assert.False(run.IsCompleted);
        Assert.Equal("ship-order", script.Calls[^1]);
        time.Advance(TimeSpan.FromMilliseconds(29_999));
        Assert.False(run.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ExecutionStatus.TimedOut, result.Status);
        var events = Events(store);
        Assert.Equal(EventNames.ExecutionTimeout, events[^1].Event);
        Assert.DoesNotContain(events, e => e.Event is EventNames.ExecutionCompleted or EventNames.ExecutionFailed);
        var timeout = events[^1].Data;
        Assert.Equal(30_000, timeout.GetProperty("timeout").GetInt64());
        Assert.Equal(30_000, timeout.GetProperty("duration").GetInt64());
        Assert.Equal(result.ExecutionId, timeout.GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_run_without_a_registered_agent_fails_with_the_registration_to_add()
    {
        var time = new FakeTimeProvider(Pipeline.Start);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(OtherEnsembles).Build());
        services.AddConductor().UseInMemoryStore().AddEnsembles();
        await using var provider = services.BuildServiceProvider();

        var result = await provider.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());

        Assert.Equal(ExecutionStatus.Failed, result.Status);
        Assert.Equal(
            "ensemble 'order-pipeline', flow step 'validate-order': no implementation of agent 'validate-order' is registered; register one with services.AddConductor().AddOrderPipeline(agents => agents.ValidateOrder<TAgent>()).",
            result.Error!.Message);
    }

    [Fact]
    public async Task An_email_operation_step_is_stored_with_its_rendered_values_and_sent_by_the_provider()
    {
        var directory = Directory.CreateTempSubdirectory("conductor-op-mail-").FullName;
        try
        {
            var (services, store, _, time) = Build(configureServices: s => s.Configure<Conductor.Sdk.Email.ConductorEmailOptions>(o => o.FileDirectory = directory));
            await using var _ = services;

            var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(Input());

            var delivery = Assert.Single(store.Enqueued, d => d.Event == "operation:send-receipt");
            Assert.Equal("order-pipeline#step:send-receipt", delivery.NotificationKey);
            Assert.Equal("email", delivery.Channel);
            using (var payload = JsonDocument.Parse(delivery.Payload))
            {
                Assert.Equal(result.ExecutionId, payload.RootElement.GetProperty("executionId").GetString());
                // Configuration-only values (cc: ${env.ORDERS_CC}) are resolved when sending, never stored.
                Assert.Equal(
                    """{"provider":"file","to":"buyer@example.com","subject":"Order ord-7 shipped","text":"Tracking number 1Z999, receipt rcpt-42"}""",
                    payload.RootElement.GetProperty("values").GetRawText());
            }

            await services.GetRequiredService<DeliveryProcessor>().RunDueAsync();
            Assert.Equal(DeliveryStatus.Delivered, (await store.GetAsync(delivery.Id))!.Status);
            var message = MimeKit.MimeMessage.Load(Directory.GetFiles(directory, delivery.Id + "*").Single());
            Assert.Equal("Order ord-7 shipped", message.Subject);
            Assert.Equal("buyer@example.com", message.To.Mailboxes.Single().Address);
            Assert.Equal("audit@example.com", message.Cc.Mailboxes.Single().Address);
            Assert.Equal("Tracking number 1Z999, receipt rcpt-42", message.TextBody!.Trim());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
