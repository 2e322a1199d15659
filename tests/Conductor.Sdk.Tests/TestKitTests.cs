using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Runner;
using Conductor.Sdk.Testing;
using Conductor.Sdk.Tests.Ensembles;
using Xunit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #36: the test kit switches a real registration (providers included) into test mode, records push and SMS as
/// rendered, works through a host, and refuses to run when something would still send for real.
/// (The Quickstart's own tests, samples/Quickstart.Tests, cover webhooks, email, scripted receivers and fake agents;
/// the conductor-app template's test project, run by the package tests, covers WebApplicationFactory.)
/// </summary>
public sealed class TestKitTests
{
    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public async Task Push_is_recorded_as_rendered_even_though_the_app_registered_a_real_provider()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        // The app, as in production: a real Firebase provider with credentials it would use.
        services.AddConductor().AddFirebasePush(o => o.ServiceAccountJson = """{"project_id":"shop","client_email":"x@shop.iam","private_key":"not used"}""")
            .AddOrderShipped(agents => agents.Ship((input, context) => new() { Carrier = "ups" }));
        services.AddConductorTestKit();
        await using var provider = services.BuildServiceProvider();
        var kit = provider.GetConductorTestKit();

        var run = await provider.GetRequiredService<OrderShippedEnsemble>().RunAsync(new OrderShippedEnsemble.Input { UserId = "user-7", OrderId = "O-9" });
        Assert.Equal(ExecutionStatus.Completed, run.Status);
        var push = await kit.Push.WaitForAsync(OrderShippedEnsemble.Name, EventNames.ExecutionCompleted);
        Assert.Equal(("firebase", "topic", "user-7"), (push.Provider, push.Message.Target.Kind, push.Message.Target.Value));
        Assert.Equal(("Order Shipped!", "Your order #O-9 is on its way."), (push.Title, push.Body));
        Assert.Equal(1, push.Attempt);
        Assert.Equal(DeliveryStatus.Delivered, (await kit.DeliveryAsync(push.DeliveryId)).Status);
        kit.AssertNothingElseSent();
    }

    [Fact]
    public async Task An_SMS_operation_step_is_recorded_with_its_rendered_body_and_numbers()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(Configuration(("TWILIO_ACCOUNT_SID", "AC123"), ("TWILIO_AUTH_TOKEN", "token"), ("TWILIO_PHONE_NUMBER", "+15550001111"), ("ONCALL_PHONE", "+15550002222")));
        services.AddConductor().AddTwilioSms()
            .AddServerHealthCheck(agents => agents.CheckHealth((input, context) => JsonDocument.Parse("""{"status":"critical","message":"disk full"}""").RootElement.Clone()));
        services.AddConductorTestKit();
        await using var provider = services.BuildServiceProvider();
        var kit = provider.GetConductorTestKit();

        var run = await provider.GetRequiredService<ServerHealthCheckEnsemble>().RunAsync();
        Assert.Equal(ExecutionStatus.Completed, run.Status);
        var sms = Assert.Single(await kit.Sms.WaitForAsync(1));
        Assert.Equal(("twilio", "+15550002222", "+15550001111"), (sms.Provider, sms.To, sms.From));
        Assert.Equal("[CRITICAL] server-health-check\nStatus: critical\nMessage: disk full", sms.Body.TrimEnd());
        Assert.Equal(ServerHealthCheckEnsemble.Name, sms.Ensemble);
    }

    [Fact]
    public async Task A_host_in_test_mode_starts_without_the_worker_and_delivers_only_when_the_test_asks()
    {
        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(services => services.AddConductor()
                .AddFirebasePush(o => o.ServiceAccountJson = """{"project_id":"shop","client_email":"x@shop.iam","private_key":"not used"}""")
                .AddOrderShipped(agents => agents.Ship((input, context) => new() { Carrier = "dhl" })))
            .UseConductorTestKit(kit => kit.Start = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero))
            .Build();
        await host.StartAsync();
        try
        {
            var kit = host.Services.GetConductorTestKit();
            Assert.DoesNotContain(host.Services.GetServices<IHostedService>(), s => s is DeliveryWorker);
            await host.Services.GetRequiredService<OrderShippedEnsemble>().RunAsync(new OrderShippedEnsemble.Input { UserId = "u", OrderId = "1" });
            Assert.Empty(kit.Sent);
            Assert.Equal(1, await kit.DeliverAsync());
            Assert.Equal(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero), Assert.Single(kit.Push.Sent).At);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Test_mode_applied_before_a_provider_registration_refuses_to_run_instead_of_sending_for_real()
    {
        var services = new ServiceCollection();
        services.AddConductorTestKit();
        services.AddConductor().AddSmtpEmail(o => o.Host = "smtp.example.com").UsePostgreSql("Host=db.example.com");
        await using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<InvalidOperationException>(() => provider.GetConductorTestKit());
        Assert.StartsWith("AddConductorTestKit() must be called after the app's own Conductor registrations", error.Message, StringComparison.Ordinal);
        Assert.Contains("the delivery store is not the in-memory store", error.Message, StringComparison.Ordinal);
        Assert.Contains("an email provider would send for real", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_the_kit_cannot_work_with_are_refused_naming_the_setting()
    {
        var step = Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddConductorTestKit(kit => kit.AdvanceStep = TimeSpan.Zero));
        Assert.Contains("ConductorTestKitOptions.AdvanceStep must be positive (it is 00:00:00)", step.Message, StringComparison.Ordinal);
        var wait = Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddConductorTestKit(kit => kit.WaitTimeout = TimeSpan.FromSeconds(-1)));
        Assert.Contains("ConductorTestKitOptions.WaitTimeout must be positive", wait.Message, StringComparison.Ordinal);
        var retry = Assert.Throws<ArgumentOutOfRangeException>(() => WebhookReply.TooManyRequests(TimeSpan.FromSeconds(-5)));
        Assert.Contains("Retry-After must not be negative", retry.Message, StringComparison.Ordinal);
        var status = Assert.Throws<ArgumentOutOfRangeException>(() => WebhookReply.WithStatus(99));
        Assert.Equal("status", status.ParamName);
        var url = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddConductorTestKit().Services.BuildServiceProvider().GetConductorTestKit().Webhooks.Reply("hooks.test/orders", 500));
        Assert.Contains("'hooks.test/orders' is not an absolute http(s) URL", url.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddConductor_called_again_after_test_mode_brings_back_neither_the_worker_nor_a_real_provider()
    {
        var services = new ServiceCollection();
        services.AddConductor().UseSqlite("unused.db");
        services.AddConductorTestKit();
        services.AddConductor(o => o.MaxConcurrentPerEndpoint = 3); // a library, or a test's own setup
        await using var provider = services.BuildServiceProvider();
        var kit = provider.GetConductorTestKit();
        Assert.IsType<InMemoryDeliveryStore>(kit.Store);
        Assert.DoesNotContain(provider.GetServices<IHostedService>(), s => s is DeliveryWorker);
        Assert.Equal(3, provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<ConductorOptions>>().Value.MaxConcurrentPerEndpoint);
    }

    [Fact]
    public async Task A_failure_without_a_status_code_is_logged_without_an_empty_status()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(new Conductor.Sdk.Tests.Infrastructure.CollectingLoggerProvider(lines)));
        services.AddConductor().AddNotification(new WebhookNotificationDefinition("a", 0, [EventNames.ExecutionCompleted], new Uri("https://hooks.test/a"), ["s"], retries: 1));
        services.AddConductorTestKit();
        await using var provider = services.BuildServiceProvider();
        var kit = provider.GetConductorTestKit();
        kit.Webhooks.ReplyAlways("https://hooks.test", WebhookReply.ConnectionRefused);
        await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(new ExecutionCompleted(kit.Time.GetUtcNow(), "a", "x", null, 1));
        await kit.AdvanceAsync(TimeSpan.FromSeconds(5));

        Assert.Contains(lines, l => l.Contains("attempt 1 to https://hooks.test failed (Connection: Connection refused", StringComparison.Ordinal) && l.Contains("retrying at", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("dead-lettered after attempt 2 (Connection: Connection refused", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("status :", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Operation_steps_take_recipient_lists_an_email_to_cc_and_bcc_and_one_SMS_per_number()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddConductor().AddTeamDigest();
        services.AddConductorTestKit();
        await using var provider = services.BuildServiceProvider();
        var kit = provider.GetConductorTestKit();

        var run = await provider.GetRequiredService<TeamDigestEnsemble>().RunAsync(new TeamDigestEnsemble.Input { Lead = "lead@example.com" });
        Assert.Equal(ExecutionStatus.Completed, run.Status);
        var email = await kit.Emails.WaitForAsync(e => e.Subject == "Digest for lead@example.com", "the digest");
        Assert.Equal(["ops@example.com", "lead@example.com"], email.To);
        Assert.Equal(["audit@example.com"], email.Cc);
        Assert.Equal(["archive@example.com", "legal@example.com"], email.Bcc);
        var texts = await kit.Sms.WaitForAsync(2);
        Assert.Equal(["+15550001111", "+15550002222"], texts.Select(t => t.To).Order());
        Assert.Equal(2, texts.Select(t => t.DeliveryId).Distinct().Count());
        kit.AssertNothingElseSent();
    }

    [Fact]
    public async Task The_scripted_receiver_answers_an_endpoint_script_for_every_path_and_a_URL_script_before_it()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var builder = services.AddConductor();
        builder.AddNotification(new WebhookNotificationDefinition("a", 0, [EventNames.ExecutionCompleted], new Uri("https://hooks.test/a"), ["s"], retries: 1))
            .AddNotification(new WebhookNotificationDefinition("b", 0, [EventNames.ExecutionCompleted], new Uri("https://hooks.test/b"), ["s"], retries: 1));
        services.AddConductorTestKit();
        await using var provider = services.BuildServiceProvider();
        var kit = provider.GetConductorTestKit();
        kit.Webhooks.ReplyAlways("https://hooks.test", 502).Reply("https://hooks.test/b", 201);
        var dispatcher = provider.GetRequiredService<NotificationDispatcher>();
        await dispatcher.DispatchAsync(new ExecutionCompleted(kit.Time.GetUtcNow(), "a", "x", null, 1));
        await dispatcher.DispatchAsync(new ExecutionCompleted(kit.Time.GetUtcNow(), "b", "y", null, 1));
        await kit.AdvanceAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([502, 502], kit.Webhooks.To("https://hooks.test/a").Select(w => w.Reply.Status!.Value));
        Assert.Equal([201], kit.Webhooks.To("https://hooks.test/b").Select(w => w.Reply.Status!.Value));
        Assert.Equal(DeliveryStatus.DeadLettered, Assert.Single(await kit.DeadLettersAsync()).Status);
    }
}
