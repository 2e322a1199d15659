using Conductor.Sdk.Delivery;
using Conductor.Sdk.Testing;
using Conductor.Sdk.Webhooks;
using ConductorApp.Ensembles;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace ConductorTests;

/// <summary>
/// The app under test in its own host (WebApplicationFactory), in Conductor test mode: nothing leaves the process, the
/// clock moves only when a test says so, and the webhook is read with the types generated from the YAML.
/// </summary>
public sealed class OrderFulfilmentTests : IDisposable
{
    private const string Secret = "test-secret";
    private const string Receiver = "https://hooks.test/orders";

    private readonly WebApplicationFactory<Program> _factory;

    public OrderFulfilmentTests() => _factory = App();

    public void Dispose() => _factory.Dispose();

    /// <summary>The app with test mode switched on (after its own registrations); <paramref name="configure"/> may add fake agents.</summary>
    private static WebApplicationFactory<Program> App(Action<ConductorBuilder>? configure = null) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(host => host.ConfigureTestServices(services =>
        {
            var conductor = services.AddConductorTestKit(kit =>
            {
                kit.Environment["ORDER_WEBHOOK_URL"] = Receiver;
                kit.Environment["ORDER_WEBHOOK_SECRET"] = Secret;
            });
            configure?.Invoke(conductor);
        }));

    private static async Task PlaceOrderAsync(WebApplicationFactory<Program> app, string orderId)
    {
        using var response = await app.CreateClient().PostAsync($"/orders/{orderId}?customerEmail=ada@example.com", null);
        response.EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task A_shipped_order_sends_a_signed_webhook_with_the_tracking_number()
    {
        await PlaceOrderAsync(_factory, "A-1");
        var kit = _factory.Services.GetConductorTestKit();

        var completed = await kit.Webhooks.WaitForAsync<OrderFulfilmentEnsemble.Output>();
        Assert.Equal(("A-1", "TRACK-A-1"), (completed.Output.OrderId, completed.Output.TrackingNumber));
        Assert.Equal(WebhookVerificationResult.Valid, completed.Request.VerifySignature(Secret));
        kit.AssertNothingElseSent();
    }

    [Fact]
    public async Task A_receiver_that_answers_500_twice_is_retried_after_1_s_and_5_s()
    {
        var kit = _factory.Services.GetConductorTestKit();
        kit.Webhooks.Reply(Receiver, 500, 500);
        await PlaceOrderAsync(_factory, "A-2");

        await kit.AdvanceAsync(TimeSpan.FromMinutes(1));
        var attempts = kit.Webhooks.To(Receiver);
        Assert.Equal([500, 500, 200], attempts.Select(a => a.Reply.Status!.Value));
        Assert.Equal([TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6)], attempts.Select(a => a.At - attempts[0].At));
    }

    [Fact]
    public async Task A_410_Gone_dead_letters_the_delivery_and_a_replay_sends_it_again()
    {
        var kit = _factory.Services.GetConductorTestKit();
        kit.Webhooks.Reply(Receiver, WebhookReply.Gone);
        await PlaceOrderAsync(_factory, "A-3");

        await kit.DeliverAsync();
        var dead = Assert.Single(await kit.DeadLettersAsync());
        Assert.Equal((1, 410), (dead.Attempts, dead.LastStatusCode));
        await kit.ReplayAsync(dead.Id);
        Assert.Equal(DeliveryStatus.Delivered, (await kit.DeliveryAsync(dead.Id)).Status);
    }

    [Fact]
    public async Task A_fake_agent_replaces_the_real_one()
    {
        using var app = App(conductor => conductor
            .AddOrderFulfilment(agents => agents.ShipOrder((input, context) => new() { TrackingNumber = "FAKE-" + input.OrderId })));
        await PlaceOrderAsync(app, "A-4");

        var completed = await app.Services.GetConductorTestKit().Webhooks.WaitForAsync<OrderFulfilmentEnsemble.Output>();
        Assert.Equal("FAKE-A-4", completed.Output.TrackingNumber);
    }
}
