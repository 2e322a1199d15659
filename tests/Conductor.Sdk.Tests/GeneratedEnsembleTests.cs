using System.Globalization;
using System.Text;
using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Ensembles;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The code the generator emits for ensembles/user-onboarding.yaml in this project, used as an application
/// would: AddEnsembles(), then Notify, delivered to a real Kestrel receiver.
/// </summary>
public sealed class GeneratedEnsembleTests
{
    private sealed class RecordingEmailChannel : Channels.INotificationChannel
    {
        public List<Channels.DeliveryAttempt> Attempts { get; } = new();

        public string Channel => "email";

        public string EndpointOf(NotificationDefinition notification) => "email";

        public ValueTask<Channels.AttemptResult> SendAsync(Channels.DeliveryAttempt attempt, CancellationToken cancellationToken)
        {
            lock (Attempts) Attempts.Add(attempt);
            return ValueTask.FromResult(Channels.AttemptResult.Delivered(null));
        }
    }

    private static ServiceProvider Build(FakeTimeProvider time, IDictionary<string, string?> configuration, bool withEmail = false)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(RunnerTests.HealthCheckEnvironment).AddInMemoryCollection(configuration).Build());
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore().AddEnsembles();
        if (withEmail)
        {
            services.AddSingleton<RecordingEmailChannel>();
            services.AddSingleton<Channels.INotificationChannel>(sp => sp.GetRequiredService<RecordingEmailChannel>());
        }

        return services.BuildServiceProvider();
    }

    [Fact]
    public void Constants_and_types_come_from_the_yaml()
    {
        Assert.Equal("user-onboarding", UserOnboardingEnsemble.Name);
        Assert.Equal("Creates the account and tells the integrations", UserOnboardingEnsemble.Description);
        Assert.Equal("onboard-user", UserOnboardingEnsemble.Agents.OnboardUser);
        Assert.Equal(
            new[] { ("ONBOARDING_WEBHOOK_URL", "webhook notification #1, field 'url'"), ("WEBHOOK_SECRET", "webhook notification #1, field 'secret'") },
            UserOnboardingEnsemble.EnvironmentRequirements.Select(r => (r.Variable, r.UsedBy)));
        var output = new UserOnboardingEnsemble.Output { UserId = "user_xyz789" };
        Assert.Equal("""{"userId":"user_xyz789"}""", output.ToJson().GetRawText());
    }

    [Fact]
    public async Task Notify_delivers_the_exact_body_with_a_valid_signature()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var provider = Build(time, new Dictionary<string, string?>
        {
            ["ONBOARDING_WEBHOOK_URL"] = receiver.Url().ToString(),
            ["WEBHOOK_SECRET"] = "onboarding-secret",
        });
        var ensemble = provider.GetRequiredService<UserOnboardingEnsemble>();

        var receipt = await ensemble.Notify.ExecutionCompletedAsync("exec-abc123", new UserOnboardingEnsemble.Output { UserId = "user_xyz789" }, TimeSpan.FromMilliseconds(1234));
        var id = Assert.Single(receipt.DeliveryIds);
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        var request = Assert.Single(receiver.Requests);
        Assert.Equal(
            """{"event":"execution.completed","timestamp":"2024-01-15T10:30:00.000Z","data":{"ensemble":"user-onboarding","id":"exec-abc123","status":"completed","output":{"userId":"user_xyz789"},"duration":1234}}""",
            Encoding.UTF8.GetString(request.Body));
        Assert.Equal(id, request.Header("X-Conductor-Delivery-Id"));
        Assert.Equal("user-onboarding", request.Header("X-Ensemble"));
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.Verify(
            request.Body, request.Header("X-Conductor-Signature"), request.Header("X-Conductor-Timestamp"), new[] { "onboarding-secret" }, time.GetUtcNow()));
    }

    [Fact]
    public async Task ExecutionFailed_carries_the_exception_message_and_type_and_renders_the_email_subject()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var provider = Build(time, new Dictionary<string, string?>
        {
            ["ONBOARDING_WEBHOOK_URL"] = receiver.Url().ToString(),
            ["WEBHOOK_SECRET"] = "onboarding-secret",
        }, withEmail: true);
        var ensemble = provider.GetRequiredService<UserOnboardingEnsemble>();
        var failure = new InvalidOperationException("mailbox unavailable");

        var receipt = await ensemble.Notify.ExecutionFailedAsync("exec-9", failure, TimeSpan.FromSeconds(2));
        Assert.Equal(2, receipt.DeliveryIds.Count);

        // The email notification's subject is compiled C#: render it for the same event.
        var registry = provider.GetRequiredService<NotificationRegistry>();
        var email = Assert.IsType<EmailNotificationDefinition>(registry.ForEnsemble(UserOnboardingEnsemble.Name)[1]);
        var @event = new Events.ExecutionFailed(time.GetUtcNow(), UserOnboardingEnsemble.Name, "exec-9", Events.ErrorInfo.From(failure), 2000);
        var context = new global::Conductor.Sdk.Ensembles.TemplateContext(UserOnboardingEnsemble.Name, @event, provider.GetRequiredService<global::Conductor.Sdk.Ensembles.EnsembleEnvironment>());
        Assert.Equal("[execution.failed] user-onboarding: mailbox unavailable", email.Subject.Render(context));
        Assert.Equal("team@example.com", email.To.Single().Render(context));

        // Both notifications were enqueued; a recording channel stands in for the email package here.
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Single(receiver.Requests);
        Assert.Equal(receipt.DeliveryIds[1], Assert.Single(provider.GetRequiredService<RecordingEmailChannel>().Attempts).Delivery.Id);
        var webhookId = receipt.DeliveryIds[0];
        var webhook = await provider.GetRequiredService<IDeliveryStore>().GetAsync(webhookId);
        using var body = JsonDocument.Parse(webhook!.Payload);
        var error = body.RootElement.GetProperty("data").GetProperty("error");
        Assert.Equal("mailbox unavailable", error.GetProperty("message").GetString());
        Assert.Equal("System.InvalidOperationException", error.GetProperty("type").GetString());
        Assert.Equal(2000, body.RootElement.GetProperty("data").GetProperty("duration").GetInt64());
    }

    [Fact]
    public void Missing_configuration_values_are_listed_in_one_message()
    {
        using var provider = Build(new FakeTimeProvider(Pipeline.Start), new Dictionary<string, string?>());
        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<NotificationRegistry>());
        Assert.Contains("- ONBOARDING_WEBHOOK_URL: needed by ensemble 'user-onboarding', webhook notification #1, field 'url'", error.Message);
        Assert.Contains("- WEBHOOK_SECRET: needed by ensemble 'user-onboarding', webhook notification #1, field 'secret'", error.Message);
    }

    [Fact]
    public async Task A_host_with_missing_configuration_fails_at_start_with_the_listed_names()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Test", DisableDefaults = true });
        builder.Services.AddConductor().UseInMemoryStore().AddEnsembles();
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("configuration values used by ${env.NAME} bindings are missing or empty", error.Message);
        Assert.Contains("- ONBOARDING_WEBHOOK_URL: needed by ensemble 'user-onboarding', webhook notification #1, field 'url'", error.Message);
        Assert.Contains("- WEBHOOK_SECRET: needed by ensemble 'user-onboarding', webhook notification #1, field 'secret'", error.Message);
    }

    [Fact]
    public async Task Invalid_arguments_name_the_ensemble()
    {
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var provider = Build(time, new Dictionary<string, string?> { ["ONBOARDING_WEBHOOK_URL"] = "https://hooks.example.com/x", ["WEBHOOK_SECRET"] = "s" });
        var ensemble = provider.GetRequiredService<UserOnboardingEnsemble>();
        var empty = await Assert.ThrowsAsync<ArgumentException>(async () => await ensemble.Notify.ExecutionStartedAsync(" "));
        Assert.Contains("ensemble 'user-onboarding': the execution id must not be empty", empty.Message);
        var negative = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await ensemble.Notify.ExecutionTimeoutAsync("x", TimeSpan.FromSeconds(-1)));
        Assert.Contains("a duration cannot be negative", negative.Message);
    }
}
