using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>The SMS channel and the Vonage provider against a loopback server that checks the exact request.</summary>
public sealed class SmsTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);

    private static async Task<(Receiver Server, List<IFormCollection> Forms)> StartVonageAsync(params string[] statuses)
    {
        var forms = new List<IFormCollection>();
        Receiver? self = null;
        var server = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async context =>
        {
            var form = await context.Request.ReadFormAsync();
            int n;
            lock (forms)
            {
                forms.Add(form);
                n = forms.Count - 1;
            }

            self!.Record(new ReceivedRequest(context.Request.Method, context.Request.Path, new Dictionary<string, string>(), Array.Empty<byte>()));
            var status = statuses[Math.Min(n, statuses.Length - 1)];
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"message-count":"1","messages":[{"status":"{{status}}","error-text":"{{(status == "0" ? "" : "Bad Credentials")}}"}]}""");
        }));
        self = server;
        return (server, forms);
    }

    private static (ServiceProvider Provider, FakeTimeProvider Time) Build(Receiver server, string body = "[${event}] ${ensemble.name}", string to = "+14155550100")
    {
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddVonageSms(o =>
            {
                o.ApiKey = "vk";
                o.ApiSecret = "vs-secret";
                o.BaseAddress = server.BaseAddress;
            })
            .AddNotification(new SmsNotificationDefinition("health", 0, new[] { EventNames.ExecutionFailed }, "vonage",
                new[] { new CompiledTemplate(to, (in TemplateContext _) => to) },
                new CompiledTemplate("+14155550111", (in TemplateContext _) => "+14155550111"),
                new CompiledTemplate(body, (in TemplateContext c) => body == "[${event}] ${ensemble.name}" ? $"[{c.Event}] {c.Ensemble}" : body)));
        return (services.BuildServiceProvider(), time);
    }

    private static async Task<DeliveryRecord> SendAsync(ServiceProvider provider, FakeTimeProvider time)
    {
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "health", "exec-1", new ErrorInfo("down", "T"), 1))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        return (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;
    }

    [Fact]
    public async Task An_unreadable_accepted_reply_is_not_sent_again()
    {
        // 200 with an empty body: Vonage may have taken the message, so a retry could text the recipient twice.
        await using var server = await Receiver.StartAsync(Reply.Status(200));
        var (provider, time) = Build(server);
        await using var _ = provider;

        var record = await SendAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(10));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        Assert.Equal((DeliveryStatus.DeadLettered, 1), (record.Status, record.Attempts));
        Assert.StartsWith("vonage: unexpected reply to an accepted request", record.LastError);
        Assert.Equal(1, server.Count);
    }

    [Fact]
    public async Task Each_recipient_is_its_own_delivery_so_a_retry_never_texts_one_who_already_got_it()
    {
        // Status 0 (accepted) for the first request, 1 (throttled: retry) for the second, then 0.
        var (server, forms) = await StartVonageAsync("0", "1", "0");
        await using var _ = server;
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        CompiledTemplate Text(string value) => new(value, (in TemplateContext _) => value);
        services.AddConductor(o =>
            {
                o.AllowedNetworks.Add("127.0.0.1/32");
                o.MaxConcurrentPerEndpoint = 1; // one at a time, so the scripted answers meet the recipients in order
            }).UseInMemoryStore()
            .AddVonageSms(o =>
            {
                o.ApiKey = "vk";
                o.ApiSecret = "vs-secret";
                o.BaseAddress = server.BaseAddress;
            })
            .AddNotification(new SmsNotificationDefinition("health", 0, new[] { EventNames.ExecutionFailed }, "vonage",
                new[] { Text("+14155550100"), Text("+14155550101") }, Text("+14155550111"), Text("down")));
        await using var provider = services.BuildServiceProvider();

        var receipt = await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "health", "exec-1", new ErrorInfo("down", "T"), 1));
        Assert.Equal(2, receipt.DeliveryIds.Count);
        var processor = provider.GetRequiredService<DeliveryProcessor>();
        await processor.RunDueAsync();
        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();

        var store = provider.GetRequiredService<IDeliveryStore>();
        var records = await Task.WhenAll(receipt.DeliveryIds.Select(async id => (await store.GetAsync(id))!));
        Assert.All(records, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        Assert.Equal(new[] { "health#0@0", "health#0@1" }, records.Select(r => r.NotificationKey).Order(StringComparer.Ordinal));
        var sent = forms.Select(f => f["to"].ToString()).ToList();
        Assert.Equal(3, sent.Count);
        // Whichever recipient was throttled got the second (retried) request; the other was texted exactly once.
        Assert.Equal(new[] { "14155550100", "14155550101" }, sent.Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(new[] { 1, 2 }, sent.GroupBy(t => t).Select(g => g.Count()).Order());
        Assert.Equal(sent[1], sent[2]);
    }

    [Fact]
    public async Task Vonage_gets_the_exact_form_and_status_0_is_delivered()
    {
        var (server, forms) = await StartVonageAsync("0");
        await using var _ = server;
        var (provider, time) = Build(server);
        await using var __ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal(DeliveryStatus.Delivered, record.Status);
        var request = Assert.Single(server.Requests);
        Assert.Equal(("POST", "/sms/json"), (request.Method, request.Path));
        var form = Assert.Single(forms);
        Assert.Equal(("vk", "vs-secret", "14155550111", "14155550100", "[execution.failed] health", record.Id),
            (form["api_key"].ToString(), form["api_secret"].ToString(), form["from"].ToString(), form["to"].ToString(), form["text"].ToString(), form["client-ref"].ToString()));
    }

    [Fact]
    public async Task Throttling_is_retried_and_bad_credentials_are_permanent()
    {
        var (server, _) = await StartVonageAsync("1", "4");
        await using var __ = server;
        var (provider, time) = Build(server);
        await using var ___ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Pending, 1), (record.Status, record.Attempts));
        time.Advance(TimeSpan.FromSeconds(1));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var dead = (await provider.GetRequiredService<IDeliveryStore>().GetAsync(record.Id))!;
        Assert.Equal(DeliveryStatus.DeadLettered, dead.Status);
        Assert.Equal("vonage: status 4 Bad Credentials", dead.LastError);
        Assert.DoesNotContain("vs-secret", dead.LastError);
    }

    [Theory]
    [InlineData("0044 20 7946 0000", "[execution.failed] health", "field 'to': '0044 20 7946 0000' is not an E.164 number")]
    [InlineData("+14155550100", null, "field 'body': the rendered body has 1601 characters; an SMS needs 1 to 1600")]
    public async Task Bad_rendered_values_name_the_ensemble_notification_and_field(string to, string? body, string message)
    {
        var (server, _) = await StartVonageAsync("0");
        await using var __ = server;
        var (provider, time) = Build(server, body ?? new string('x', 1601), to);
        await using var ___ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.StartsWith($"ensemble 'health', sms notification #1, {message}", record.LastError);
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public void Configuring_sms_or_email_without_a_callback_names_the_missing_argument()
    {
        var builder = new ServiceCollection().AddConductor();
        Assert.Equal("configure", Assert.Throws<ArgumentNullException>(() => builder.ConfigureSms(null!)).ParamName);
        Assert.Equal("configure", Assert.Throws<ArgumentNullException>(() => ConductorEmailBuilderExtensions.ConfigureEmail(builder, null!)).ParamName);
    }
}
