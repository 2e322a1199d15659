using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Threading.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Webhooks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookReceiver;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// samples/WebhookReceiver hosted on Kestrel on 127.0.0.1 (WebApplicationFactory), with its handler replaced by a
/// recorder and its clock by a fake one.
/// </summary>
public sealed class WebhookReceiverSampleTests
{
    private const string Secret = "sample-secret";
    private const string Body = """{"event":"execution.completed","timestamp":"2024-01-15T10:30:00.000Z","data":{"ensemble":"orders","id":"exec-1"}}""";

    private sealed class RecordingHandler : IWebhookHandler
    {
        private readonly Channel<ReceivedWebhook> _processed = Channel.CreateUnbounded<ReceivedWebhook>();
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public Task HandleAsync(ReceivedWebhook webhook, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            _processed.Writer.TryWrite(webhook);
            return Task.CompletedTask;
        }

        /// <summary>The next processed webhook; fails after a generous real-time safety limit.</summary>
        public async Task<ReceivedWebhook> NextAsync()
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            return await _processed.Reader.ReadAsync(limit.Token);
        }
    }

    private sealed class Sample : IAsyncDisposable
    {
        private readonly WebApplicationFactory<WebhookReceiverApp> _factory;

        private Sample(WebApplicationFactory<WebhookReceiverApp> factory, RecordingHandler handler)
        {
            _factory = factory;
            Handler = handler;
            var address = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            Url = new Uri(new Uri(address), WebhookReceiverApp.Path);
        }

        public RecordingHandler Handler { get; }
        public Uri Url { get; }
        public IServiceProvider Services => _factory.Services;

        public static WebApplicationFactory<WebhookReceiverApp> Factory(TimeProvider time, RecordingHandler handler, string secret, params (string Key, string Value)[] settings)
        {
            var factory = new WebApplicationFactory<WebhookReceiverApp>().WithWebHostBuilder(builder =>
            {
                // Set even when empty, so that a secret in the machine's environment cannot leak into the test.
                builder.UseSetting(WebhookReceiverApp.SecretKey, secret);
                foreach (var (key, value) in settings) builder.UseSetting(key, value);
                builder.ConfigureLogging(logging => logging.ClearProviders());
                builder.ConfigureTestServices(services =>
                {
                    services.AddSingleton(time);
                    services.AddSingleton<IWebhookHandler>(handler);
                });
            });
            factory.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            return factory;
        }

        public static Sample Start(TimeProvider time, params (string Key, string Value)[] settings)
        {
            var handler = new RecordingHandler();
            var factory = Factory(time, handler, Secret, settings);
            factory.StartServer();
            return new Sample(factory, handler);
        }

        public async ValueTask DisposeAsync() => await _factory.DisposeAsync();
    }

    private static async Task<(HttpStatusCode Status, string Text)> PostAsync(Uri url, string deliveryId, DateTimeOffset now, string secret = Secret, string body = Body, int attempt = 1, string? signedBody = null)
    {
        using var client = new HttpClient();
        var bytes = Encoding.UTF8.GetBytes(body);
        var timestamp = now.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Conductor-Event", EventNames.ExecutionCompleted);
        request.Headers.Add("X-Conductor-Timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("X-Conductor-Delivery-Attempt", attempt.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("X-Conductor-Delivery-Id", deliveryId);
        request.Headers.Add("X-Conductor-Signature", WebhookSigner.SignConductor(secret, timestamp, Encoding.UTF8.GetBytes(signedBody ?? body)));
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_delivery_from_the_pipeline_is_verified_accepted_and_processed_once_and_a_wrong_secret_gets_401()
    {
        await using var sample = Sample.Start(new FakeTimeProvider(Pipeline.Start));
        await using var pipeline = Pipeline.Create(new NotificationDefinition[]
        {
            new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, sample.Url, new[] { Secret }),
            new WebhookNotificationDefinition("orders", 1, new[] { EventNames.ExecutionCompleted }, sample.Url, new[] { "not-the-secret" }),
        });

        var receipt = await pipeline.CompletedAsync();
        await pipeline.Processor.RunDueAsync();

        var good = await pipeline.RecordAsync(receipt.DeliveryIds[0]);
        var bad = await pipeline.RecordAsync(receipt.DeliveryIds[1]);
        Assert.Equal((DeliveryStatus.Delivered, 200), (good.Status, good.LastStatusCode));
        Assert.Equal((DeliveryStatus.DeadLettered, 401), (bad.Status, bad.LastStatusCode));
        var processed = await sample.Handler.NextAsync();
        Assert.Equal((good.Id, EventNames.ExecutionCompleted, 1), (processed.DeliveryId, processed.Event, processed.Attempt));
        Assert.Equal(good.Payload.ToArray(), processed.Body.ToArray());
        Assert.Equal(1, sample.Handler.Calls);
    }

    [Fact]
    public async Task The_same_delivery_id_twice_is_answered_200_but_processed_once_until_it_expires()
    {
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var sample = Sample.Start(time, ("WebhookReceiver:Deduplication:Expiry", "00:10:00"));

        Assert.Equal((HttpStatusCode.OK, "queued"), await PostAsync(sample.Url, "dlv_a", time.GetUtcNow()));
        Assert.Equal((HttpStatusCode.OK, "duplicate"), await PostAsync(sample.Url, "dlv_a", time.GetUtcNow(), attempt: 2));
        Assert.Equal((HttpStatusCode.OK, "queued"), await PostAsync(sample.Url, "dlv_b", time.GetUtcNow()));

        // One reader, in order: had the duplicate been queued, it would be processed before dlv_b.
        Assert.Equal("dlv_a", (await sample.Handler.NextAsync()).DeliveryId);
        Assert.Equal("dlv_b", (await sample.Handler.NextAsync()).DeliveryId);
        Assert.Equal(2, sample.Handler.Calls);

        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal((HttpStatusCode.OK, "queued"), await PostAsync(sample.Url, "dlv_a", time.GetUtcNow(), attempt: 3));
        var again = await sample.Handler.NextAsync();
        Assert.Equal(("dlv_a", 3, 3), (again.DeliveryId, again.Attempt, sample.Handler.Calls));
    }

    [Fact]
    public async Task A_bad_signature_gets_401_and_is_never_processed()
    {
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var sample = Sample.Start(time);

        var wrongSecret = await PostAsync(sample.Url, "dlv_x", time.GetUtcNow(), secret: "guessed");
        var tampered = await PostAsync(sample.Url, "dlv_y", time.GetUtcNow(), body: Body.Replace("exec-1", "exec-2", StringComparison.Ordinal), signedBody: Body);
        var stale = await PostAsync(sample.Url, "dlv_z", time.GetUtcNow() - TimeSpan.FromMinutes(10));
        Assert.Equal(HttpStatusCode.Unauthorized, wrongSecret.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, tampered.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, stale.Status);
        Assert.Contains("signature", wrongSecret.Text, StringComparison.OrdinalIgnoreCase);

        // Refused ids were not remembered either: the genuine delivery with the same id goes through.
        Assert.Equal((HttpStatusCode.OK, "queued"), await PostAsync(sample.Url, "dlv_x", time.GetUtcNow()));
        Assert.Equal("dlv_x", (await sample.Handler.NextAsync()).DeliveryId);
        Assert.Equal(1, sample.Handler.Calls);
    }

    [Fact]
    public async Task Without_a_secret_the_sample_refuses_to_start_and_names_the_setting()
    {
        await using var factory = Sample.Factory(TimeProvider.System, new RecordingHandler(), secret: string.Empty);

        var error = Record.Exception(() => factory.StartServer());

        Assert.NotNull(error);
        var messages = string.Join(" | ", Chain(error));
        Assert.Contains("WebhookReceiver cannot start: the configuration value 'Conductor:WebhookSecret' is missing", messages);
    }

    [Fact]
    public void The_deduplicator_is_bounded_and_forgets_the_oldest_first()
    {
        var time = new FakeTimeProvider(Pipeline.Start);
        var store = new DeliveryDeduplicator(time, Options.Create(new DeduplicationOptions { Capacity = 2, Expiry = TimeSpan.FromMinutes(1) }));

        Assert.True(store.TryBegin("a"));
        Assert.True(store.TryBegin("b"));
        Assert.True(store.TryBegin("c"));
        Assert.Equal(2, store.Count);
        Assert.False(store.TryBegin("c"));
        Assert.False(store.TryBegin("b"));
        Assert.True(store.TryBegin("a")); // "a" was evicted for "c"; now "b" goes
        Assert.True(store.TryBegin("b"));

        store.Forget("b");
        Assert.True(store.TryBegin("b"));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, store.Count);
        Assert.True(store.TryBegin("a"));
    }

    private static IEnumerable<string> Chain(Exception error)
    {
        for (Exception? current = error; current is not null; current = current.InnerException) yield return current.Message;
        if (error is AggregateException aggregate)
        {
            foreach (var inner in aggregate.InnerExceptions) yield return inner.Message;
        }
    }
}
