using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Email;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Resend and Cloudflare against loopback servers that check the exact request.</summary>
public sealed class EmailProviderTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);

    private static EmailNotificationDefinition Email(string provider) => new(
        "orders", 0, new[] { EventNames.ExecutionFailed }, provider,
        new[] { new CompiledTemplate("ops@example.com", (in TemplateContext _) => "ops@example.com") },
        new CompiledTemplate("alerts@example.com", (in TemplateContext _) => "alerts@example.com"),
        new CompiledTemplate("[${event}] ${ensemble.name}", (in TemplateContext c) => $"[{c.Event}] {c.Ensemble}"));

    private static (ServiceProvider Provider, FakeTimeProvider Time) Resend(Receiver server) =>
        Build(b => b.AddResendEmail(o =>
        {
            o.ApiKey = "re_test_key";
            o.BaseAddress = server.BaseAddress;
        }), "resend");

    private static (ServiceProvider Provider, FakeTimeProvider Time) Cloudflare(Receiver server) =>
        Build(b => b.AddCloudflareEmail(o =>
        {
            o.AccountId = "acc123";
            o.ApiToken = "cf_test_token";
            o.BaseAddress = server.BaseAddress;
        }), "cloudflare");

    private static (ServiceProvider Provider, FakeTimeProvider Time) Build(Action<ConductorBuilder> providers, string provider)
    {
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        var builder = services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore().AddNotification(Email(provider));
        providers(builder);
        return (services.BuildServiceProvider(), time);
    }

    private static ValueTask<DispatchReceipt> Fail(ServiceProvider provider, FakeTimeProvider time) =>
        provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(new ExecutionFailed(time.GetUtcNow(), "orders", "exec-1", new ErrorInfo("boom <b>", "System.Exception"), 12));

    [Fact]
    public async Task Resend_gets_the_exact_request_and_429_retry_after_is_honoured()
    {
        await using var server = await Receiver.StartAsync(Reply.Status(429, ("Retry-After", "120")), Reply.Status(200));
        var (provider, time) = Resend(server);
        await using var _ = provider;
        var id = (await Fail(provider, time)).DeliveryIds.Single();
        var processor = provider.GetRequiredService<DeliveryProcessor>();
        await processor.RunDueAsync();
        var first = Assert.Single(server.Requests);
        Assert.Equal(("POST", "/emails"), (first.Method, first.Path));
        Assert.Equal("Bearer re_test_key", first.Header("Authorization"));
        Assert.Equal(id, first.Header("Idempotency-Key"));
        Assert.StartsWith("application/json", first.Header("Content-Type"));
        using var body = JsonDocument.Parse(first.Body);
        Assert.Equal("alerts@example.com", body.RootElement.GetProperty("from").GetString());
        Assert.Equal(new[] { "ops@example.com" }, body.RootElement.GetProperty("to").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("[execution.failed] orders", body.RootElement.GetProperty("subject").GetString());
        Assert.Contains("boom &lt;b&gt;", body.RootElement.GetProperty("html").GetString());
        Assert.Contains("\"message\": \"boom <b>\"", body.RootElement.GetProperty("text").GetString());
        Assert.Equal(id, body.RootElement.GetProperty("headers").GetProperty("X-Conductor-Delivery-Id").GetString());

        // 429 with Retry-After: 120 s, not the 1 s of the schedule.
        var attempt = Assert.Single(await provider.GetRequiredService<IDeliveryStore>().AttemptsAsync(id));
        Assert.Equal(At.AddSeconds(120), attempt.NextDueAt);
        time.Advance(TimeSpan.FromSeconds(119));
        Assert.Equal(0, await processor.RunDueAsync());
        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!.Status);
        Assert.Equal(id, server.Requests[1].Header("Idempotency-Key"));
    }

    [Fact]
    public async Task A_4xx_from_the_api_is_dead_lettered_with_the_reply()
    {
        await using var server = await Receiver.StartAsync((_, _) => Reply.Status(422));
        var (provider, time) = Resend(server);
        await using var _ = provider;
        var id = (await Fail(provider, time)).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var record = (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;
        Assert.Equal((DeliveryStatus.DeadLettered, 422), (record.Status, record.LastStatusCode));
        Assert.StartsWith("resend: HTTP 422", record.LastError);
        Assert.DoesNotContain("re_test_key", record.LastError);
    }

    [Fact]
    public async Task Cloudflare_gets_the_exact_request_and_success_false_is_a_failure()
    {
        var replies = 0;
        await using var server = await Receiver.StartAsync(
            (_, _) => Interlocked.Increment(ref replies) == 1 ? Reply.Status(200) : Reply.Status(500),
            map: null);
        var (provider, time) = Cloudflare(server);
        await using var _ = provider;
        var id = (await Fail(provider, time)).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var request = Assert.Single(server.Requests);
        Assert.Equal(("POST", "/client/v4/accounts/acc123/email/sending/send"), (request.Method, request.Path));
        Assert.Equal("Bearer cf_test_token", request.Header("Authorization"));
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal(new[] { "ops@example.com" }, body.RootElement.GetProperty("to").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("alerts@example.com", body.RootElement.GetProperty("from").GetString());
        Assert.Equal("[execution.failed] orders", body.RootElement.GetProperty("subject").GetString());
        Assert.Equal(DeliveryStatus.Delivered, (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!.Status);
    }

    [Fact]
    public async Task Cloudflare_success_false_on_http_200_is_permanent()
    {
        await using var server = await Receiver.StartAsync((_, _) => Reply.Status(200), map: app =>
            Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async context =>
            {
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("""{"success":false,"errors":[{"code":10001,"message":"domain not verified"}],"messages":[],"result":null}""");
            }));
        var (provider, time) = Cloudflare(server);
        await using var _ = provider;
        var id = (await Fail(provider, time)).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var record = (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;
        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.Contains("domain not verified", record.LastError);
    }
}
