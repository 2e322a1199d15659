using System.Net;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Security;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Conductor.Sdk.Tests;

public sealed class IsolationAndSsrfTests
{
    private static WebhookNotificationDefinition Webhook(string ensemble, Uri url, int retries = 0, int timeoutMs = 5000) =>
        new(ensemble, 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "s" }, retries, TimeSpan.FromMilliseconds(timeoutMs));

    [Fact]
    public async Task A_hanging_receiver_does_not_delay_a_healthy_one()
    {
        await using var hanging = await Receiver.StartAsync(Reply.Hang);
        await using var healthy = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(
            new[] { Webhook("slow", hanging.Url()), Webhook("fast", healthy.Url()) },
            options =>
            {
                options.MaxConcurrentDeliveries = 16;
                options.MaxConcurrentPerEndpoint = 4;
            });

        // Interleave the events so that the hanging endpoint's deliveries come first in every batch.
        var fast = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            await pipeline.CompletedAsync("slow", $"s{i}");
            fast.AddRange((await pipeline.CompletedAsync("fast", $"f{i}")).DeliveryIds);
        }

        var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
        await worker.StartAsync(CancellationToken.None);
        try
        {
            // The fake clock does not move: every hanging attempt is still hanging while the healthy receiver gets all 20.
            await healthy.WaitForAsync(20);
            foreach (var id in fast)
            {
                await WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Delivered);
            }

            // The hanging endpoint holds its 4 slots; its other 16 deliveries wait in its queue, not in worker slots.
            Assert.Equal(4, hanging.Count);
            Assert.Equal(4, pipeline.Processor.InFlight);
            var waiting = await pipeline.Store.ListAsync(new DeliveryQuery(Ensemble: "slow", Status: DeliveryStatus.Pending));
            Assert.Equal(20, waiting.Count);
            Assert.All(waiting, d => Assert.Equal(0, d.Attempts));

            // When the hanging attempts time out, the queued ones get their turn.
            pipeline.Time.Advance(TimeSpan.FromSeconds(5));
            await hanging.WaitForAsync(8);
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task An_open_circuit_stops_attempts_to_its_endpoint_only()
    {
        await using var dead = await Receiver.StartAsync(Reply.Status(500));
        await using var healthy = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(
            new[] { Webhook("dead", dead.Url()), Webhook("fine", healthy.Url()) },
            options =>
            {
                options.CircuitBreakerMinimumThroughput = 2;
                options.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(30);
            });

        for (var i = 0; i < 2; i++)
        {
            await pipeline.CompletedAsync("dead", $"d{i}");
            await pipeline.Processor.RunDueAsync();
        }

        Assert.Equal(2, dead.Count);
        var third = (await pipeline.CompletedAsync("dead", "d2")).DeliveryIds.Single();
        var healthyId = (await pipeline.CompletedAsync("fine", "ok")).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();

        Assert.Equal(2, dead.Count);
        // The endpoint is paused while its breaker is open: its delivery stays as it was stored (not leased, not rewritten).
        var held = await pipeline.RecordAsync(third);
        Assert.Equal((DeliveryStatus.Pending, 0, pipeline.Time.GetUtcNow()), (held.Status, held.Attempts, held.DueAt));
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(healthyId)).Status);

        // After the break the endpoint is tried again.
        pipeline.Time.Advance(TimeSpan.FromSeconds(30));
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(3, dead.Count);
    }

    [Theory]
    [InlineData("http://10.0.0.1:8080/hooks", "10.0.0.1", "private network")]
    [InlineData("http://169.254.169.254/latest/meta-data", "169.254.169.254", "cloud metadata")]
    [InlineData("http://100.64.1.1/hooks", "100.64.1.1", "carrier-grade NAT")]
    [InlineData("http://[fd00::1]/hooks", "fd00::1", "unique-local")]
    public async Task Internal_addresses_are_refused_without_a_request_and_dead_lettered(string url, string address, string reason)
    {
        var record = await RefusedAsync(new Uri(url), retries: 3);
        Assert.Contains($"refused to connect to {address}", record.LastError);
        Assert.Contains(reason, record.LastError);
        Conductor.Sdk.Testing.ReliabilityResults.Record("SSRF", "internal address refused, no request, dead-lettered", Refusal(record), url);
    }

    private static string Refusal(DeliveryRecord record) => $"{record.Status}: {record.LastError!.Split(';')[0]}";

    /// <summary>One event to <paramref name="url"/> with the default policy: the delivery's record, checked to be dead-lettered as refused (no retry) with how to allow it.</summary>
    private static async Task<DeliveryRecord> RefusedAsync(Uri url, int retries)
    {
        await using var pipeline = Pipeline.Create(new[] { Webhook("orders", url, retries: retries) }, allowLoopback: false);
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        var record = await pipeline.RecordAsync(id);
        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.Equal(AttemptErrorKind.DestinationRefused, record.LastErrorKind);
        Assert.Contains("AllowedNetworks", record.LastError);
        return record;
    }

    [Theory]
    // Numeric forms of 127.0.0.1 that URL parsers accept: decimal, hexadecimal, octal, shortened.
    [InlineData("http://2130706433:{port}/hooks", "127.0.0.1")]
    [InlineData("http://0x7f000001:{port}/hooks", "127.0.0.1")]
    [InlineData("http://0177.0.0.1:{port}/hooks", "127.0.0.1")]
    [InlineData("http://127.1:{port}/hooks", "127.0.0.1")]
    [InlineData("http://0.0.0.0:{port}/hooks", "0.0.0.0")]
    // IPv6 forms that carry a refused IPv4 address.
    [InlineData("http://[::ffff:127.0.0.1]:{port}/hooks", "127.0.0.1")]
    [InlineData("http://[::ffff:10.0.0.1]:{port}/hooks", "10.0.0.1")]
    [InlineData("http://[64:ff9b::7f00:1]:{port}/hooks", "127.0.0.1")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]:{port}/hooks", "169.254.169.254")]
    [InlineData("http://[::127.0.0.1]:{port}/hooks", "127.0.0.1")]
    [InlineData("http://[2002:7f00:1::1]:{port}/hooks", "127.0.0.1")]
    [InlineData("http://[::1]:{port}/hooks", "::1")]
    public async Task Every_literal_form_of_a_refused_address_is_refused_and_nothing_is_sent(string template, string reached)
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var url = new Uri(template.Replace("{port}", receiver.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        var record = await RefusedAsync(url, retries: 0);
        Assert.Contains(reached, record.LastError);
        Assert.Equal(0, receiver.Count);
        Conductor.Sdk.Testing.ReliabilityResults.Record("SSRF", "literal form of a refused address refused, receiver untouched", Refusal(record) + "; 0 requests", template.Replace(":{port}", string.Empty, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("64:ff9b::a00:1", "it reaches 10.0.0.1, which is a private network")]
    [InlineData("64:ff9b:1::a00:1", "local-use NAT64")]
    [InlineData("2002:c0a8:101::1", "it reaches 192.168.1.1, which is a private network")]
    [InlineData("::a9fe:a9fe", "it reaches 169.254.169.254, which is link-local")]
    [InlineData("fd00:ec2::254", "cloud metadata")]
    public void The_policy_judges_an_ipv6_address_by_the_ipv4_address_it_carries(string address, string reason)
    {
        var refusal = new DestinationPolicy().Check(IPAddress.Parse(address));
        Assert.NotNull(refusal);
        Assert.Contains(reason, refusal);
        Conductor.Sdk.Testing.ReliabilityResults.Record("SSRF", "IPv6 judged by the IPv4 address it carries", refusal, address);
    }

    [Theory]
    [InlineData("64:ff9b::808:808")] // 8.8.8.8 through NAT64
    [InlineData("2002:808:808::1")] // 8.8.8.8 through 6to4
    [InlineData("2606:4700::1111")]
    [InlineData("93.184.216.34")]
    public void Public_addresses_stay_allowed_in_every_form(string address) =>
        Assert.Null(new DestinationPolicy().Check(IPAddress.Parse(address)));

    [Fact]
    public void The_webhook_handler_uses_no_proxy_so_a_proxy_cannot_become_a_bypass()
    {
        // With a proxy, the connect callback would be asked for the proxy's address, not the webhook's, and the address
        // check would judge the proxy: HTTP_PROXY / HTTPS_PROXY / HttpClient.DefaultProxy must not apply to webhooks.
        using var handler = new SafeConnector(new DestinationPolicy()).CreateHandler();
        Assert.False(handler.UseProxy);
        Assert.Null(handler.Proxy);
        Assert.False(handler.AllowAutoRedirect);
        Conductor.Sdk.Testing.ReliabilityResults.Record("SSRF", "HTTP(S)_PROXY cannot become a bypass; redirects not followed", "UseProxy=false, Proxy=null, AllowAutoRedirect=false");
    }

    [Fact]
    public async Task Loopback_is_refused_by_default_and_delivered_when_allowed()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using (var refused = Pipeline.Create(new[] { Webhook("orders", receiver.Url()) }, allowLoopback: false))
        {
            var id = (await refused.CompletedAsync()).DeliveryIds.Single();
            await refused.Processor.RunDueAsync();
            Assert.Equal(AttemptErrorKind.DestinationRefused, (await refused.RecordAsync(id)).LastErrorKind);
            Assert.Equal(0, receiver.Count);
        }

        await using var allowed = Pipeline.Create(new[] { Webhook("orders", receiver.Url()) }, options => options.AllowedNetworks.Add("127.0.0.0/8"), allowLoopback: false);
        var allowedId = (await allowed.CompletedAsync()).DeliveryIds.Single();
        await allowed.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await allowed.RecordAsync(allowedId)).Status);
        Assert.Equal(1, receiver.Count);
    }

    [Fact]
    public async Task Ipv6_loopback_is_refused_by_default_and_delivered_when_allowed()
    {
        await using var receiver = await Receiver.StartAsync((_, _) => Reply.Status(200), address: "::1");
        await using (var refused = Pipeline.Create(new[] { Webhook("orders", receiver.Url()) }, allowLoopback: false))
        {
            var id = (await refused.CompletedAsync()).DeliveryIds.Single();
            await refused.Processor.RunDueAsync();
            Assert.Contains("refused to connect to ::1", (await refused.RecordAsync(id)).LastError);
            Conductor.Sdk.Testing.ReliabilityResults.Record("SSRF", "::1 refused by default, delivered when allowed", Refusal(await refused.RecordAsync(id)));
        }

        await using var allowed = Pipeline.Create(new[] { Webhook("orders", receiver.Url()) }, options => options.AllowedNetworks.Add("::1/128"), allowLoopback: false);
        var allowedId = (await allowed.CompletedAsync()).DeliveryIds.Single();
        await allowed.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await allowed.RecordAsync(allowedId)).Status);
        Assert.Equal(1, receiver.Count);
    }

    [Fact]
    public async Task A_name_that_resolves_to_a_refused_address_is_checked_at_connect_time()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var port = receiver.BaseAddress.Port;
        var url = new Uri($"http://hooks.rebinding.test:{port}/hooks");
        // The name looks public to whoever checked the URL; at connect time it resolves to loopback.
        void Resolver(IServiceCollection services) => services.AddSingleton(sp =>
            new SafeConnector(sp.GetRequiredService<DestinationPolicy>(), (_, _) => ValueTask.FromResult(new[] { IPAddress.Loopback })));

        await using (var refused = Pipeline.Create(new[] { Webhook("orders", url) }, services: Resolver, allowLoopback: false))
        {
            var id = (await refused.CompletedAsync()).DeliveryIds.Single();
            await refused.Processor.RunDueAsync();
            var record = await refused.RecordAsync(id);
            Assert.Equal(AttemptErrorKind.DestinationRefused, record.LastErrorKind);
            Assert.Contains("webhook host 'hooks.rebinding.test' refused to connect to 127.0.0.1", record.LastError);
            Assert.Equal(0, receiver.Count);
        }

        await using var allowed = Pipeline.Create(new[] { Webhook("orders", url) }, services: Resolver);
        var allowedId = (await allowed.CompletedAsync()).DeliveryIds.Single();
        await allowed.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await allowed.RecordAsync(allowedId)).Status);
        Assert.Equal($"hooks.rebinding.test:{port}", receiver.Requests.Single().Header("Host"));
        Conductor.Sdk.Testing.ReliabilityResults.Record("SSRF", "a DNS name (or rebinding) resolving to loopback is checked at connect time", "refused at connect, delivered when allowed");
    }

    [Fact]
    public void The_isolation_layer_refuses_a_missing_dependency_by_name()
    {
        var options = Microsoft.Extensions.Options.Options.Create(new ConductorOptions());
        var registry = new NotificationRegistry(Array.Empty<NotificationDefinition>());
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new EndpointIsolation(null!, TimeProvider.System, registry)).ParamName);
        Assert.Equal("time", Assert.Throws<ArgumentNullException>(() => new EndpointIsolation(options, null!, registry)).ParamName);
        Assert.Equal("notifications", Assert.Throws<ArgumentNullException>(() => new EndpointIsolation(options, TimeProvider.System, null!)).ParamName);
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition) => WorkerProcess.WaitUntilAsync(condition, TimeSpan.FromSeconds(30), "the condition");
}
