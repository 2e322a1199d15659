using System.Text.Json;
using Conductor.Sdk.Ensembles;
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
/// Data that does not match the YAML's declarations, at run time (issue #16, point 4): a typed agent that leaves a
/// required field null or returns nothing, JSON input that misses or mistypes a field, typed input with a null field.
/// Each fails the run with execution.failed and an error naming the ensemble, the step or input, and the field;
/// nothing renders empty. Also: the typed Notify overloads and the generated JsonContext.
/// </summary>
public sealed class TypedDataTests
{
    private static (ServiceProvider Services, InMemoryDeliveryStoreProbe Store, RunnerTests.Script Script) Build(Action<RunnerTests.Script>? configure = null)
    {
        var script = new RunnerTests.Script();
        configure?.Invoke(script);
        var store = new InMemoryDeliveryStoreProbe();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new FakeTimeProvider(Pipeline.Start));
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(RunnerTests.OtherEnsembles).Build());
        services.AddSingleton(script);
        services.AddConductor().UseInMemoryStore()
            .AddEnsembles()
            .AddOrderPipeline(agents => agents.ValidateOrder<RunnerTests.ValidateOrder>().ChargeCard<RunnerTests.ChargeCard>().ShipOrder<RunnerTests.ShipOrder>());
        services.AddSingleton<Conductor.Sdk.Delivery.IDeliveryStore>(store);
        return (services.BuildServiceProvider(validateScopes: true), store, script);
    }

    [Fact]
    public async Task An_agent_that_leaves_a_required_field_null_fails_the_run_naming_ensemble_step_and_field()
    {
        var (services, store, _) = Build(s => s.TrackingNumber = null);
        await using var _ = services;

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(new OrderPipelineEnsemble.Input { OrderId = "ord-7", Amount = 25, Email = "buyer@example.com" });

        Assert.Equal(ExecutionStatus.Failed, result.Status);
        Assert.Equal(typeof(EnsembleDataException).FullName, result.Error!.Type);
        Assert.Equal(
            "ensemble 'order-pipeline', step 'ship-order' output, field 'trackingNumber': the value is required but null; set it, or declare the field optional with '?' in the YAML",
            result.Error.Message);
        Assert.Equal(new[] { EventNames.ExecutionStarted, EventNames.AgentCompleted, EventNames.StateUpdated, EventNames.AgentCompleted, EventNames.ExecutionFailed }, store.Events());
        // The operation step after it never ran: no email with an empty tracking number.
        Assert.DoesNotContain(store.Enqueued, d => d.Event == "operation:send-receipt");
    }

    [Fact]
    public async Task An_agent_that_returns_null_fails_the_run_naming_the_step()
    {
        var (services, _, _) = Build(s => s.ShipReturnsNull = true);
        await using var _ = services;

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(new OrderPipelineEnsemble.Input { OrderId = "ord-7", Amount = 25, Email = "buyer@example.com" });

        Assert.Equal(ExecutionStatus.Failed, result.Status);
        Assert.Equal("ensemble 'order-pipeline', step 'ship-order' output: agent 'ship-order' returned null; it must return the output the YAML declares", result.Error!.Message);
    }

    [Theory]
    [InlineData("""{"amount":25,"email":"buyer@example.com"}""", "ensemble 'order-pipeline', input, field 'orderId': the value is required but missing (or null); the YAML declares it without '?'")]
    [InlineData("""{"orderId":"ord-7","amount":"25","email":"buyer@example.com"}""", "ensemble 'order-pipeline', input, field 'amount': expected a whole number (int), got the string \"25\"")]
    [InlineData("""{"orderId":"ord-7","amount":2.5,"email":"buyer@example.com"}""", "ensemble 'order-pipeline', input, field 'amount': expected a whole number (int), got the number 2.5")]
    [InlineData("""["ord-7"]""", "ensemble 'order-pipeline', input: expected an object, got a list")]
    public async Task Json_input_that_does_not_match_the_declaration_fails_the_run_before_any_agent(string json, string message)
    {
        var (services, store, script) = Build();
        await using var _ = services;
        using var document = JsonDocument.Parse(json);

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(document.RootElement);

        Assert.Equal(ExecutionStatus.Failed, result.Status);
        Assert.Equal(message, result.Error!.Message);
        Assert.Empty(script.Calls);
        Assert.Equal(new[] { EventNames.ExecutionStarted, EventNames.ExecutionFailed }, store.Events());
        Assert.Equal(message, store.Data(EventNames.ExecutionFailed).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Json_input_that_matches_runs_typed_and_extra_members_are_dropped()
    {
        var (services, store, script) = Build();
        await using var _ = services;
        using var document = JsonDocument.Parse("""{"email":"buyer@example.com","orderId":"ord-9","amount":25,"unused":true}""");

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(document.RootElement);

        Assert.Equal(ExecutionStatus.Completed, result.Status);
        Assert.Equal(new[] { "validate-order", "charge-card", "ship-order" }, script.Calls);
        Assert.Equal("""{"orderId":"ord-9","amount":25,"email":"buyer@example.com"}""", store.Data(EventNames.ExecutionStarted).GetProperty("input").GetRawText());
    }

    [Fact]
    public async Task Typed_input_with_a_null_required_field_fails_the_run_naming_the_field()
    {
        var (services, _, script) = Build();
        await using var _ = services;

        var result = await services.GetRequiredService<OrderPipelineEnsemble>().RunAsync(new OrderPipelineEnsemble.Input { OrderId = null!, Amount = 25, Email = "buyer@example.com" });

        Assert.Equal(ExecutionStatus.Failed, result.Status);
        Assert.Equal("ensemble 'order-pipeline', input, field 'orderId': the value is required but null; set it, or declare the field optional with '?' in the YAML", result.Error!.Message);
        Assert.Empty(script.Calls);
    }

    [Fact]
    public async Task Typed_notify_overloads_send_the_records_as_json_with_the_yaml_names()
    {
        var (services, store, _) = Build();
        await using var _ = services;
        var notify = services.GetRequiredService<OrderPipelineEnsemble>().Notify;

        await notify.ExecutionStartedAsync("exec-1", new OrderPipelineEnsemble.Input { OrderId = "ord-1", Amount = 3, Email = "a@example.com" });
        await notify.AgentCompletedAsync("exec-1", new OrderPipelineEnsemble.ShipOrderOutput { TrackingNumber = "1Z1" }, TimeSpan.FromMilliseconds(12));
        var error = await Assert.ThrowsAsync<EnsembleDataException>(() => notify.AgentCompletedAsync("exec-1", new OrderPipelineEnsemble.ChargeCardOutput { Receipt = "r-1", Carrier = null! }, TimeSpan.Zero).AsTask());

        Assert.Equal("""{"orderId":"ord-1","amount":3,"email":"a@example.com"}""", store.Data(EventNames.ExecutionStarted).GetProperty("input").GetRawText());
        var completed = store.Data(EventNames.AgentCompleted);
        Assert.Equal("ship-order", completed.GetProperty("agent").GetString());
        Assert.Equal("""{"trackingNumber":"1Z1"}""", completed.GetProperty("output").GetRawText());
        Assert.Equal("ensemble 'order-pipeline', step 'charge-card' output, field 'carrier': the value is required but null; set it, or declare the field optional with '?' in the YAML", error.Message);
        Assert.Equal(("order-pipeline", "step 'charge-card' output", "carrier"), (error.Ensemble, error.Part, error.Field));
    }

    [Fact]
    public void Registering_a_typed_agent_without_ensemble_or_agent_name_is_refused()
    {
        var services = new ServiceCollection();
        var ensemble = Assert.Throws<ArgumentException>(() => TypedAgents.Add<OrderPipelineEnsemble.Input, OrderPipelineEnsemble.ShipOrderOutput, RunnerTests.ShipOrder>(services, "", "ship-order"));
        Assert.Equal("ensemble", ensemble.ParamName);
        var agent = Assert.Throws<ArgumentNullException>(() => TypedAgents.Add<OrderPipelineEnsemble.Input, OrderPipelineEnsemble.ShipOrderOutput, RunnerTests.ShipOrder>(services, "order-pipeline", null!));
        Assert.Equal("agent", agent.ParamName);
        Assert.Empty(services);
    }

    [Fact]
    public void The_shared_json_context_round_trips_the_generated_types_without_reflection()
    {
        // This project disables reflection-based System.Text.Json: only the generated readers and writers can serialize these.
        var context = EnsembleJsonContext.Default;
        var json = JsonSerializer.Serialize(new OrderPipelineEnsemble.Input { OrderId = "ord-1", Amount = 3, Email = "a@example.com" }, context.For<OrderPipelineEnsemble.Input>());
        Assert.Equal("""{"orderId":"ord-1","amount":3,"email":"a@example.com"}""", json);
        Assert.Equal(new OrderPipelineEnsemble.Input { OrderId = "ord-1", Amount = 3, Email = "a@example.com" }, JsonSerializer.Deserialize(json, context.For<OrderPipelineEnsemble.Input>()));
        Assert.Same(context.For<OrderPipelineEnsemble.Output>(), context.GetTypeInfo(typeof(OrderPipelineEnsemble.Output)));

        var options = new JsonSerializerOptions { TypeInfoResolver = context };
        Assert.Equal("""{"charged":true,"receipt":null,"trackingNumber":"1Z"}""", JsonSerializer.Serialize(new OrderPipelineEnsemble.Output { Charged = true, Receipt = null, TrackingNumber = "1Z" }, options));

        var error = Assert.Throws<EnsembleDataException>(() => JsonSerializer.Deserialize("""{"orderId":"ord-1","amount":3}""", context.For<OrderPipelineEnsemble.Input>()));
        Assert.Equal("ensemble 'order-pipeline', input, field 'email': the value is required but missing (or null); the YAML declares it without '?'", error.Message);
    }
}

/// <summary>An in-memory store that keeps what was enqueued, in order, for assertions on events.</summary>
internal sealed class InMemoryDeliveryStoreProbe : Conductor.Sdk.Delivery.IDeliveryStore
{
    private readonly Conductor.Sdk.Delivery.InMemoryDeliveryStore _inner = new();

    public List<Conductor.Sdk.Delivery.DeliveryRecord> Enqueued { get; } = new();

    public string[] Events() => Enqueued.Where(d => !d.Event.StartsWith("operation:", StringComparison.Ordinal)).Select(d => d.Event).ToArray();

    public JsonElement Data(string @event)
    {
        using var document = JsonDocument.Parse(Enqueued.First(d => d.Event == @event).Payload);
        return document.RootElement.GetProperty("data").Clone();
    }

    public ValueTask EnqueueAsync(IReadOnlyList<Conductor.Sdk.Delivery.DeliveryRecord> deliveries, CancellationToken cancellationToken = default)
    {
        lock (Enqueued) Enqueued.AddRange(deliveries);
        return _inner.EnqueueAsync(deliveries, cancellationToken);
    }

    public ValueTask<IReadOnlyList<Conductor.Sdk.Delivery.DeliveryRecord>> LeaseDueAsync(DateTimeOffset now, int max, DateTimeOffset leaseUntil, IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default) => _inner.LeaseDueAsync(now, max, leaseUntil, skipEndpoints, cancellationToken);
    public ValueTask RecordAttemptAsync(Conductor.Sdk.Delivery.AttemptLog attempt, Conductor.Sdk.Delivery.DeliveryStatus next, CancellationToken cancellationToken = default) => _inner.RecordAttemptAsync(attempt, next, cancellationToken);
    public ValueTask ReleaseAsync(string deliveryId, DateTimeOffset dueAt, CancellationToken cancellationToken = default) => _inner.ReleaseAsync(deliveryId, dueAt, cancellationToken);
    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? skipEndpoints = null, CancellationToken cancellationToken = default) => _inner.NextDueAsync(skipEndpoints, cancellationToken);
    public ValueTask<Conductor.Sdk.Delivery.DeliveryRecord?> GetAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetAsync(deliveryId, cancellationToken);
    public ValueTask<IReadOnlyList<Conductor.Sdk.Delivery.DeliveryRecord>> ListAsync(Conductor.Sdk.Delivery.DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.ListAsync(query, cancellationToken);
    public ValueTask<IReadOnlyList<Conductor.Sdk.Delivery.AttemptLog>> AttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.AttemptsAsync(deliveryId, cancellationToken);
    public ValueTask<bool> ReplayAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => _inner.ReplayAsync(deliveryId, now, cancellationToken);
    public ValueTask<int> PurgeAsync(DateTimeOffset createdBefore, CancellationToken cancellationToken = default) => _inner.PurgeAsync(createdBefore, cancellationToken);
}
