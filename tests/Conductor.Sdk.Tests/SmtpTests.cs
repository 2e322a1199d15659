using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Smtp;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SmtpServer;
using SmtpServer.Protocol;
using SmtpServer.Storage;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>The SMTP provider (MailKit) against a real SMTP server on loopback (the SmtpServer package).</summary>
public sealed class SmtpTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);

    private sealed record Received(string From, string[] To, MimeKit.MimeMessage Message);

    private sealed class ScriptedStore(Func<int, SmtpResponse> script) : MessageStore
    {
        private int _count;
        public ConcurrentQueue<Received> Messages { get; } = new();

        public override Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            var response = script(Interlocked.Increment(ref _count) - 1);
            if (response.ReplyCode == SmtpReplyCode.Ok)
            {
                using var stream = new MemoryStream(buffer.ToArray());
                Messages.Enqueue(new Received(transaction.From.User + "@" + transaction.From.Host, transaction.To.Select(t => t.User + "@" + t.Host).ToArray(), MimeKit.MimeMessage.Load(stream)));
            }

            return Task.FromResult(response);
        }
    }

    private static async Task<(SmtpServer.SmtpServer Server, int Port, CancellationTokenSource Stop)> StartServerAsync(ScriptedStore store)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var options = new SmtpServerOptionsBuilder().ServerName("localhost").Endpoint(b => b.Endpoint(new IPEndPoint(IPAddress.Loopback, port))).Build();
        var services = new SmtpServer.ComponentModel.ServiceProvider();
        services.Add(store);
        var server = new SmtpServer.SmtpServer(options, services);
        var stop = new CancellationTokenSource();
        _ = server.StartAsync(stop.Token);
        // Wait until it accepts connections (a real readiness check, not a timed sleep).
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException)
            {
                await Task.Yield();
            }
        }

        return (server, port, stop);
    }

    private static (ServiceProvider Provider, FakeTimeProvider Time) Build(int port, string[]? events = null)
    {
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddConductor().UseInMemoryStore()
            .AddSmtpEmail(o =>
            {
                o.Host = "127.0.0.1";
                o.Port = port;
                o.Security = SmtpSecurity.None;
            })
            .AddNotification(new EmailNotificationDefinition("orders", 0, events ?? new[] { EventNames.ExecutionFailed }, "smtp",
                new[] { new CompiledTemplate("ops@example.com", (in TemplateContext _) => "ops@example.com") },
                new CompiledTemplate("alerts@example.com", (in TemplateContext _) => "alerts@example.com"),
                new CompiledTemplate("[${event}] ${data.error.message}", (in TemplateContext c) => $"[{c.Event}] {c.Data(new TemplatePath("error", "message"))}")));
        return (services.BuildServiceProvider(), time);
    }

    [Theory]
    [InlineData(451)]
    [InlineData(421)]
    public async Task A_4xx_is_retried_and_the_accepted_message_has_the_envelope_headers_and_both_parts(int temporary)
    {
        var store = new ScriptedStore(n => n == 0 ? new SmtpResponse((SmtpReplyCode)temporary, "try again later") : SmtpResponse.Ok);
        var (server, port, stop) = await StartServerAsync(store);
        using var _ = stop;
        var (provider, time) = Build(port);
        await using var __ = provider;
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "orders", "exec-1", new ErrorInfo("disk <full>\r\nBcc: x@example.com", "System.IO.IOException"), 3))).DeliveryIds.Single();
        var processor = provider.GetRequiredService<DeliveryProcessor>();
        await processor.RunDueAsync();
        var first = Assert.Single(await provider.GetRequiredService<IDeliveryStore>().AttemptsAsync(id));
        Assert.Equal(AttemptOutcome.Retry, first.Outcome);
        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!.Status);

        var received = Assert.Single(store.Messages);
        Assert.Equal("alerts@example.com", received.From);
        Assert.Equal(new[] { "ops@example.com" }, received.To);
        var message = received.Message;
        Assert.Equal("[execution.failed] disk <full>  Bcc: x@example.com", message.Subject);
        Assert.Empty(message.Bcc);
        Assert.Equal(id, message.Headers["X-Conductor-Delivery-Id"]);
        Assert.Equal(id + "@conductor.local", message.MessageId);
        var text = message.BodyParts.OfType<MimeKit.TextPart>().Single(p => p.IsPlain).Text;
        var html = message.BodyParts.OfType<MimeKit.TextPart>().Single(p => p.IsHtml).Text;
        Assert.Contains("\"type\": \"System.IO.IOException\"", text);
        Assert.Contains("background:#cf222e;", html);
        Assert.Contains("disk &lt;full&gt;", html);
        stop.Cancel();
    }

    [Fact]
    public async Task Every_event_type_arrives_colour_coded_with_escaped_values()
    {
        var store = new ScriptedStore(_ => SmtpResponse.Ok);
        var (server, port, stop) = await StartServerAsync(store);
        using var _ = stop;
        var all = new[] { EventNames.ExecutionStarted, EventNames.ExecutionCompleted, EventNames.ExecutionFailed, EventNames.ExecutionTimeout, EventNames.AgentCompleted, EventNames.StateUpdated };
        var (provider, time) = Build(port, all);
        await using var __ = provider;
        var dispatcher = provider.GetRequiredService<NotificationDispatcher>();
        var output = System.Text.Json.JsonDocument.Parse("""{"note":"<script>alert(1)</script>"}""").RootElement;
        var now = time.GetUtcNow();
        await dispatcher.DispatchAsync(new ExecutionStarted(now, "orders", "e", null));
        await dispatcher.DispatchAsync(new ExecutionCompleted(now, "orders", "e", output, 1));
        await dispatcher.DispatchAsync(new ExecutionFailed(now, "orders", "e", new ErrorInfo("<b>bad</b>", "T"), 1));
        await dispatcher.DispatchAsync(new ExecutionTimedOut(now, "orders", "e", 2, 1));
        await dispatcher.DispatchAsync(new AgentCompleted(now, "orders", "e", "a", output, 1));
        await dispatcher.DispatchAsync(new StateUpdated(now, "orders", "e", output));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        var byEvent = store.Messages.ToDictionary(m => System.Text.Json.JsonDocument.Parse(m.Message.TextBody!).RootElement.GetProperty("event").GetString()!, m => m.Message.HtmlBody);
        Assert.Equal(all.Order(), byEvent.Keys.Order());
        Assert.Contains("background:#0969da;", byEvent[EventNames.ExecutionStarted]);
        Assert.Contains("background:#1a7f37;", byEvent[EventNames.ExecutionCompleted]);
        Assert.Contains("background:#cf222e;", byEvent[EventNames.ExecutionFailed]);
        Assert.Contains("background:#cf222e;", byEvent[EventNames.ExecutionTimeout]);
        Assert.Contains("background:#0969da;", byEvent[EventNames.AgentCompleted]);
        Assert.Contains("background:#0969da;", byEvent[EventNames.StateUpdated]);
        Assert.All(byEvent.Values, html => Assert.DoesNotContain("<script>", html));
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", byEvent[EventNames.ExecutionCompleted]);
        Assert.Contains("&lt;b&gt;bad&lt;/b&gt;", byEvent[EventNames.ExecutionFailed]);
        stop.Cancel();
    }

    [Fact]
    public async Task A_550_is_dead_lettered_with_the_reply()
    {
        var store = new ScriptedStore(_ => new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "no such mailbox"));
        var (server, port, stop) = await StartServerAsync(store);
        using var _ = stop;
        var (provider, time) = Build(port);
        await using var __ = provider;
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "orders", "exec-1", new ErrorInfo("x", "T"), 3))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var record = (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;
        Assert.Equal((DeliveryStatus.DeadLettered, 550), (record.Status, record.LastStatusCode));
        Assert.Contains("no such mailbox", record.LastError);
        stop.Cancel();
    }
}
