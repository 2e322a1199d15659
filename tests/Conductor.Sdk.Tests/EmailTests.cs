using System.Text;
using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Email;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Ensembles;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Email content as the product description specifies it, and the zero-configuration file provider.</summary>
public sealed class EmailTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 15, TimeSpan.Zero);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "conductor-mail-" + Guid.NewGuid().ToString("N"));

    private static EmailMessage Message(ConductorEvent @event, string subject = "s") =>
        EmailMessage.Create("conductor@example.com", new[] { "ops@example.com" }, subject, @event, EventPayload.Serialize(@event));

    [Theory]
    [InlineData("execution.completed", "#1a7f37")]
    [InlineData("execution.failed", "#cf222e")]
    [InlineData("execution.timeout", "#cf222e")]
    [InlineData("execution.started", "#0969da")]
    [InlineData("agent.completed", "#0969da")]
    [InlineData("state.updated", "#0969da")]
    public void The_html_part_is_colour_coded_by_event(string name, string colour)
    {
        ConductorEvent @event = name switch
        {
            "execution.completed" => new ExecutionCompleted(At, "orders", "x", null, 1),
            "execution.failed" => new ExecutionFailed(At, "orders", "x", new ErrorInfo("m", "T"), 1),
            "execution.timeout" => new ExecutionTimedOut(At, "orders", "x", 2, 1),
            "execution.started" => new ExecutionStarted(At, "orders", "x", null),
            "agent.completed" => new AgentCompleted(At, "orders", "x", "a", null, 1),
            _ => new StateUpdated(At, "orders", "x", null),
        };
        Assert.Contains($"class=\"event\" style=\"background:{colour};", Message(@event).Html);
    }

    [Fact]
    public void Values_are_escaped_and_the_subject_cannot_inject_headers()
    {
        var output = JsonDocument.Parse("""{"note":"<script>alert('x')</script>"}""").RootElement;
        var message = Message(new ExecutionCompleted(At, "orders", "exec-1", output, 5), "Order done\r\nBcc: attacker@example.com");
        Assert.DoesNotContain("<script>", message.Html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", message.Html);
        Assert.Equal("Order done  Bcc: attacker@example.com", message.Subject);
        Assert.DoesNotContain('\n', message.Subject);
        // The text part is the event as indented JSON.
        using var text = JsonDocument.Parse(message.Text);
        Assert.Equal("<script>alert('x')</script>", text.RootElement.GetProperty("data").GetProperty("output").GetProperty("note").GetString());
        Assert.Contains("\n  \"event\": \"execution.completed\"", message.Text.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task With_no_configuration_an_email_notification_becomes_an_eml_file_that_MimeKit_reads_back()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(RunnerTests.HealthCheckEnvironment).AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ONBOARDING_WEBHOOK_URL"] = receiver.Url().ToString(),
            ["WEBHOOK_SECRET"] = "s",
        }).Build());
        services.Configure<ConductorEmailOptions>(o => o.FileDirectory = _directory);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore().AddEnsembles();
        await using var provider = services.BuildServiceProvider();

        var ensemble = provider.GetRequiredService<UserOnboardingEnsemble>();
        var receipt = await ensemble.Notify.ExecutionFailedAsync("exec-7", new InvalidOperationException("mailbox <full>"), TimeSpan.FromSeconds(1));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        var emailId = receipt.DeliveryIds[1];
        Assert.Equal(DeliveryStatus.Delivered, (await provider.GetRequiredService<IDeliveryStore>().GetAsync(emailId))!.Status);
        var path = Path.Combine(_directory, emailId + ".eml");
        var mime = await MimeKit.MimeMessage.LoadAsync(path);
        Assert.Equal("conductor@example.com", mime.From.Mailboxes.Single().Address);
        Assert.Equal("team@example.com", mime.To.Mailboxes.Single().Address);
        Assert.Equal("[execution.failed] user-onboarding: mailbox <full>", mime.Subject);
        Assert.Equal($"<{emailId}@conductor.local>", "<" + mime.MessageId + ">");
        var text = mime.BodyParts.OfType<MimeKit.TextPart>().Single(p => p.IsPlain).Text;
        var html = mime.BodyParts.OfType<MimeKit.TextPart>().Single(p => p.IsHtml).Text;
        using var json = JsonDocument.Parse(text);
        Assert.Equal("mailbox <full>", json.RootElement.GetProperty("data").GetProperty("error").GetProperty("message").GetString());
        Assert.Contains("background:#cf222e;", html);
        Assert.Contains("mailbox &lt;full&gt;", html);
    }

    [Fact]
    public void The_file_format_round_trips_through_MimeKit()
    {
        var message = Message(new ExecutionCompleted(At, "orders", "exec-1", JsonDocument.Parse("""{"total":"€12"}""").RootElement, 5), "Totals: €12 ✓");
        var text = FileEmailProvider.Format(message, "dlv_1", At);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
        var mime = MimeKit.MimeMessage.Load(stream);
        Assert.Equal("Totals: €12 ✓", mime.Subject);
        Assert.Equal(message.Text, mime.BodyParts.OfType<MimeKit.TextPart>().Single(p => p.IsPlain).Text);
        Assert.Equal(message.Html, mime.BodyParts.OfType<MimeKit.TextPart>().Single(p => p.IsHtml).Text);
        Assert.Equal(At, mime.Date);
    }

    [Fact]
    public async Task Addresses_known_at_start_are_validated_with_the_ensemble_notification_and_value()
    {
        var to = new Notifications.CompiledTemplate("${env.ONCALL_EMAIL}", (in TemplateContext c) => c.Env("ONCALL_EMAIL"));
        var from = new Notifications.CompiledTemplate("alerts@example.com", (in TemplateContext _) => "alerts@example.com");
        var subject = new Notifications.CompiledTemplate("s", (in TemplateContext _) => "s");
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ONCALL_EMAIL"] = "oncall.example.com" });
        builder.Services.AddConductor().UseInMemoryStore();
        builder.Services.AddSingleton(new EnsembleRegistration("alerts",
            new[] { new EnvironmentRequirement("ONCALL_EMAIL", "alerts", "email notification #1, field 'to'") },
            _ => new Notifications.NotificationDefinition[]
            {
                new Notifications.EmailNotificationDefinition("alerts", 0, new[] { EventNames.ExecutionFailed }, null, new[] { to }, from, subject),
            }));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("- ensemble 'alerts', email notification #1, field 'to': 'oncall.example.com' is not a valid email address", error.Message);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }
}
