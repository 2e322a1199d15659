using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Runner;
using Conductor.Sdk.Testing;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quickstart.Ensembles;

namespace Quickstart.Tests;

/// <summary>
/// The Quickstart's ensembles under test, as their own team would test them: nothing leaves the process, the clock
/// only moves when the test says so, and what was sent is read with the types generated from the YAML.
/// </summary>
public sealed class QuickstartTests : IAsyncDisposable
{
    private const string Receiver = "https://hooks.test";
    private const string Secret = "test-secret";
    private const string StandardSecret = "whsec_dGVzdC1zdGFuZGFyZC1zZWNyZXQ=";

    private readonly ServiceProvider _services;

    public QuickstartTests() : this(agents => agents.ReserveStock<ReserveStock>().ShipOrder<ShipOrder>())
    {
    }

    private QuickstartTests(Action<OrderFulfilmentEnsemble.AgentRegistrations> agents)
    {
        _services = Build(services => services.AddConductorTestKit(Configure)
            .AddOrderFulfilment(agents)
            .AddInvoiceSync(a => a.PushInvoices<PushInvoices>())
            .AddInventoryReport(a => a.CountStock<CountStock>()));
        Kit = _services.GetConductorTestKit();
    }

    private ConductorTestKit Kit { get; }

    public ValueTask DisposeAsync() => _services.DisposeAsync();

    private static void Configure(ConductorTestKitOptions kit)
    {
        kit.Start = new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);
        kit.Environment["QUICKSTART_RECEIVER"] = Receiver;
        kit.Environment["QUICKSTART_WEBHOOK_SECRET"] = Secret;
        kit.Environment["QUICKSTART_STANDARD_SECRET"] = StandardSecret;
    }

    private static ServiceProvider Build(Action<IServiceCollection> configure)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        configure(services);
        return services.BuildServiceProvider(validateScopes: true);
    }

    private static OrderFulfilmentEnsemble.Input Order(string id = "A-1001") => new()
    {
        OrderId = id,
        CustomerEmail = "ada@example.com",
        Priority = OrderFulfilmentEnsemble.InputPriority.Express,
        Items = [new() { Sku = "SKU-42", Quantity = 2 }],
    };

    [Fact]
    public async Task A_shipped_order_sends_a_signed_webhook_with_the_typed_output_and_emails_ops_and_the_customer()
    {
        var run = await _services.GetRequiredService<OrderFulfilmentEnsemble>().RunAsync(Order());
        Assert.Equal(ExecutionStatus.Completed, run.Status);

        var completed = await Kit.Webhooks.WaitForAsync<OrderFulfilmentEnsemble.Output>();
        Assert.Equal(("A-1001", "1Z-A-1001", true), (completed.Output.OrderId, completed.Output.TrackingNumber, completed.Output.Emailed));
        Assert.Equal(Kit.Options.Start, completed.Output.ShippedAt); // the agent's TimeProvider is the kit's clock
        Assert.Equal(new Uri(Receiver + "/hooks/orders"), completed.Request.Url);
        Assert.Equal(WebhookVerificationResult.Valid, completed.Request.VerifySignature(Secret));
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, completed.Request.VerifySignature("another-secret"));
        Assert.Equal(EventNames.ExecutionCompleted, completed.Request.Header("X-Conductor-Event"));

        var ops = await Kit.Emails.WaitForAsync(OrderFulfilmentEnsemble.Name, EventNames.ExecutionCompleted);
        Assert.Equal(["ops@example.com"], ops.To);
        Assert.Equal("[execution.completed] order-fulfilment: order A-1001 shipped as 1Z-A-1001", ops.Subject);
        var customer = Kit.Emails.Single(e => e.To.Contains("ada@example.com"), "to the customer");
        Assert.Equal(("Your order A-1001 is on its way", "Tracking number: 1Z-A-1001 (DHL Express)"), (customer.Subject, customer.Text));

        // Only an ensemble's Output names its ensemble: an agent's output type is refused with a message.
        var wrongType = Assert.Throws<ArgumentException>(() => Kit.Webhooks.Of<OrderFulfilmentEnsemble.ShipOrderOutput>());
        Assert.Contains("is not the Output type generated for an ensemble", wrongType.Message, StringComparison.Ordinal);

        // The rest of the run's notifications, and then nothing else.
        Assert.Single(Kit.Webhooks.Of(OrderFulfilmentEnsemble.Name, EventNames.ExecutionStarted));
        Assert.Equal(2, Kit.Webhooks.Of(OrderFulfilmentEnsemble.Name, EventNames.AgentCompleted).Count);
        Kit.AssertNothingElseSent();
    }

    [Fact]
    public async Task A_receiver_that_answers_500_twice_gets_the_retries_of_the_schedule_at_1_s_and_5_s()
    {
        Kit.Webhooks.Reply(Receiver + "/hooks/flaky", 500, 500);
        await _services.GetRequiredService<InventoryReportEnsemble>().RunAsync();

        await Kit.AdvanceAsync(TimeSpan.FromMinutes(1));
        var attempts = Kit.Webhooks.To(Receiver + "/hooks/flaky");
        Assert.Equal([1, 2, 3], attempts.Select(a => a.Attempt));
        Assert.Equal([500, 500, 200], attempts.Select(a => a.Reply.Status!.Value));
        var start = Kit.Options.Start;
        Assert.Equal([start, start.AddSeconds(1), start.AddSeconds(6)], attempts.Select(a => a.At));
        Assert.All(attempts, a => Assert.Equal(WebhookVerificationResult.Valid, a.VerifySignature(StandardSecret)));
        var delivery = await Kit.DeliveryAsync(attempts[0].DeliveryId);
        Assert.Equal((DeliveryStatus.Delivered, 3), (delivery.Status, delivery.Attempts));
        Assert.Equal(attempts[0].DeliveryId, attempts[2].Header("webhook-id")); // one delivery id across attempts
    }

    [Fact]
    public async Task A_receiver_that_keeps_failing_dead_letters_the_delivery_on_time_and_a_replay_delivers_it()
    {
        Kit.Webhooks.ReplyAlways(Receiver + "/hooks/flaky", 503);
        await _services.GetRequiredService<InventoryReportEnsemble>().RunAsync();

        // retries: 2 in the YAML: attempts at 0, 1 s and 6 s, then the dead letter.
        await Kit.AdvanceAsync(TimeSpan.FromHours(1));
        var dead = Assert.Single(await Kit.DeadLettersAsync());
        Assert.Equal((3, 503), (dead.Attempts, dead.LastStatusCode));
        Assert.Equal(3, Kit.Webhooks.To(Receiver + "/hooks/flaky").Count);

        Kit.Webhooks.Reply(Receiver + "/hooks/flaky", 200);
        await Kit.ReplayAsync(dead.Id);
        Assert.Equal(DeliveryStatus.Delivered, (await Kit.DeliveryAsync(dead.Id)).Status);
        Assert.Equal(4, Kit.Webhooks.Where(w => w.DeliveryId == dead.Id).Count);
    }

    [Fact]
    public async Task A_410_Gone_dead_letters_after_one_attempt_while_the_other_receivers_get_the_failure()
    {
        Kit.Webhooks.Reply(Receiver + "/hooks/retired-endpoint", WebhookReply.Gone);
        var run = await _services.GetRequiredService<InvoiceSyncEnsemble>().RunAsync();
        Assert.Equal(ExecutionStatus.Failed, run.Status);

        var failed = await Kit.Webhooks.WaitForAsync(w => w.Url.AbsolutePath == "/hooks/invoices", "to /hooks/invoices");
        Assert.Equal("the ledger for period 2024-01 is closed; invoices were not pushed", failed.Data.GetProperty("error").GetProperty("message").GetString());
        var gone = Assert.Single(Kit.Webhooks.To(Receiver + "/hooks/retired-endpoint"));
        var record = await Kit.DeliveryAsync(gone.DeliveryId);
        Assert.Equal((DeliveryStatus.DeadLettered, 1, 410), (record.Status, record.Attempts, record.LastStatusCode));
        var email = await Kit.Emails.WaitForAsync(InvoiceSyncEnsemble.Name, EventNames.ExecutionFailed);
        Assert.Equal("[execution.failed] invoice-sync: the ledger for period 2024-01 is closed; invoices were not pushed", email.Subject);
        Kit.AssertNothingElseSent();
    }

    [Fact]
    public async Task A_429_with_Retry_After_postpones_the_endpoint_until_then()
    {
        Kit.Webhooks.Reply(Receiver + "/hooks/flaky", WebhookReply.TooManyRequests(TimeSpan.FromSeconds(40)));
        await _services.GetRequiredService<InventoryReportEnsemble>().RunAsync();

        await Kit.AdvanceAsync(TimeSpan.FromSeconds(39));
        Assert.Single(Kit.Webhooks.To(Receiver + "/hooks/flaky"));
        await Kit.AdvanceAsync(TimeSpan.FromSeconds(1));
        var attempts = Kit.Webhooks.To(Receiver + "/hooks/flaky");
        Assert.Equal([Kit.Options.Start, Kit.Options.Start.AddSeconds(40)], attempts.Select(a => a.At));
        Assert.Equal(200, attempts[1].Reply.Status);
    }

    [Fact]
    public async Task A_receiver_that_never_answers_times_out_after_the_attempt_timeout_on_the_fake_clock_and_the_retry_follows_1_s_later()
    {
        Kit.Webhooks.Reply(Receiver + "/hooks/flaky", WebhookReply.Timeout);
        await _services.GetRequiredService<InventoryReportEnsemble>().RunAsync();

        // The attempt hangs; nothing else happens until the clock passes its timeout (the webhook default, 5 s).
        await Kit.DeliverAsync();
        var id = Assert.Single(Kit.Webhooks.Sent).DeliveryId;
        await Kit.AdvanceAsync(TimeSpan.FromSeconds(4));
        Assert.Empty(await Kit.AttemptsAsync(id));
        await Kit.AdvanceAsync(TimeSpan.FromSeconds(10));

        var attempts = await Kit.AttemptsAsync(id);
        Assert.Equal((AttemptOutcome.Retry, AttemptErrorKind.Timeout), (attempts[0].Outcome, attempts[0].ErrorKind));
        Assert.Equal(TimeSpan.FromSeconds(5), attempts[0].Duration); // the webhook default, timeout: 5000
        Assert.Equal(Kit.Options.Start.AddSeconds(6), Kit.Webhooks.Sent[1].At);
        Assert.Equal(DeliveryStatus.Delivered, (await Kit.DeliveryAsync(id)).Status);
    }

    [Fact]
    public async Task A_wait_that_is_not_met_fails_listing_what_was_sent_and_what_is_pending()
    {
        Kit.Webhooks.ReplyAlways(Receiver + "/hooks/flaky", 503);
        await _services.GetRequiredService<InventoryReportEnsemble>().RunAsync();

        var error = await Assert.ThrowsAsync<ConductorTestKitException>(() => Kit.Emails.WaitForAsync(e => e.Subject.Contains("inventory"), "about inventory", TimeSpan.FromMilliseconds(300)));
        Assert.StartsWith("expected 1 email send about inventory within 0.3 s; found 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("webhook execution.completed of 'inventory-report' to https://hooks.test/hooks/flaky", error.Message, StringComparison.Ordinal);
        Assert.Contains("-> 503", error.Message, StringComparison.Ordinal);
        Assert.Contains("not yet sent (1; advance the clock to reach later attempts)", error.Message, StringComparison.Ordinal);

        var unexpected = Assert.Throws<ConductorTestKitException>(Kit.AssertNothingElseSent);
        Assert.Contains("1 other send was made", unexpected.Message, StringComparison.Ordinal);
    }
}

/// <summary>Agents as lambdas, typed by the YAML: fakes for a test, with production's checks and messages.</summary>
public sealed class FakeAgentTests
{
    private static ServiceProvider Build(Action<OrderFulfilmentEnsemble.AgentRegistrations>? agents, bool testKit = true)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var builder = testKit
            ? services.AddConductorTestKit()
            : services.AddConductor().UseInMemoryStore();
        if (agents is null) builder.AddEnsembles();
        else builder.AddOrderFulfilment(agents);
        // The app's configuration (the kit's own values would win over it).
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["QUICKSTART_RECEIVER"] = "https://hooks.test",
                ["QUICKSTART_WEBHOOK_SECRET"] = "s",
                ["QUICKSTART_STANDARD_SECRET"] = "whsec_dGVzdA==",
                // AddEnsembles() registers the product description's examples too.
                ["WEBHOOK_SECRET"] = "s", ["INTERNAL_WEBHOOK_SECRET"] = "s", ["ANALYTICS_WEBHOOK_SECRET"] = "s", ["ONCALL_PHONE"] = "+15550100",
                ["TWILIO_ACCOUNT_SID"] = "AC0", ["TWILIO_AUTH_TOKEN"] = "t", ["TWILIO_PHONE_NUMBER"] = "+15550101",
            }).Build());
        return services.BuildServiceProvider();
    }

    private static readonly OrderFulfilmentEnsemble.Input Order = new()
    {
        OrderId = "B-7",
        CustomerEmail = "grace@example.com",
        Priority = OrderFulfilmentEnsemble.InputPriority.Standard,
        Items = [new() { Sku = "SKU-1", Quantity = 1 }],
    };

    [Fact]
    public async Task Lambda_agents_run_the_flow_and_their_output_reaches_the_typed_webhook()
    {
        OrderFulfilmentEnsemble.Input? seen = null;
        await using var services = Build(agents => agents
            .ReserveStock((input, context) =>
            {
                seen = input;
                return new() { Reserved = true, Warehouse = "TEST" };
            })
            .ShipOrder(async (input, context, cancellationToken) =>
            {
                await Task.Yield();
                return new() { TrackingNumber = "FAKE-" + input.OrderId, Carrier = "Test", ShippedAt = DateTimeOffset.UnixEpoch };
            }));
        var kit = services.GetConductorTestKit();

        var run = await services.GetRequiredService<OrderFulfilmentEnsemble>().RunAsync(Order);
        Assert.Equal(ExecutionStatus.Completed, run.Status);
        Assert.Same(Order, seen);
        var completed = await kit.Webhooks.WaitForAsync<OrderFulfilmentEnsemble.Output>();
        Assert.Equal(("FAKE-B-7", DateTimeOffset.UnixEpoch), (completed.Output.TrackingNumber, completed.Output.ShippedAt));
        var shipped = await kit.Webhooks.WaitForAsync(w => w.Event == EventNames.AgentCompleted && w.Data.GetProperty("agent").GetString() == "ship-order", "for ship-order");
        Assert.Equal("Test", shipped.Data.GetProperty("output").GetProperty("carrier").GetString());
    }

    [Fact]
    public async Task A_missing_agent_fails_the_run_with_the_production_message()
    {
        await using var services = Build(agents: null);
        var run = await services.GetRequiredService<OrderFulfilmentEnsemble>().RunAsync(Order);
        Assert.Equal(ExecutionStatus.Failed, run.Status);
        Assert.StartsWith("ensemble 'order-fulfilment', flow step 'reserve-stock': no implementation of agent 'reserve-stock' is registered", run.Error!.Message, StringComparison.Ordinal);
        // order-fulfilment's webhook is not subscribed to execution.failed: only the start went out.
        var kit = services.GetConductorTestKit();
        await kit.DeliverAsync();
        Assert.Equal([EventNames.ExecutionStarted], kit.Webhooks.Sent.Select(w => w.Event));
    }

    private sealed class ShipsWithoutTracking : OrderFulfilmentEnsemble.IShipOrderAgent
    {
        public ValueTask<OrderFulfilmentEnsemble.ShipOrderOutput> RunAsync(OrderFulfilmentEnsemble.Input input, AgentContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new OrderFulfilmentEnsemble.ShipOrderOutput { TrackingNumber = null!, Carrier = "X", ShippedAt = DateTimeOffset.UnixEpoch });
    }

    [Fact]
    public async Task A_lambda_returning_data_that_does_not_match_the_declaration_fails_exactly_as_a_class_agent_does()
    {
        static OrderFulfilmentEnsemble.ReserveStockOutput Reserve(OrderFulfilmentEnsemble.Input input, AgentContext context) => new() { Reserved = true, Warehouse = "W" };
        await using var fake = Build(agents => agents.ReserveStock(Reserve)
            .ShipOrder((input, context) => new() { TrackingNumber = null!, Carrier = "X", ShippedAt = DateTimeOffset.UnixEpoch }));
        await using var production = Build(agents => agents.ReserveStock(Reserve).ShipOrder<ShipsWithoutTracking>(), testKit: false);

        var faked = await fake.GetRequiredService<OrderFulfilmentEnsemble>().RunAsync(Order);
        var real = await production.GetRequiredService<OrderFulfilmentEnsemble>().RunAsync(Order);
        Assert.Equal(ExecutionStatus.Failed, faked.Status);
        Assert.Contains("trackingNumber", faked.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(real.Error!.Message, faked.Error.Message);
        Assert.Equal(real.Error.Type, faked.Error.Type);
    }
}
