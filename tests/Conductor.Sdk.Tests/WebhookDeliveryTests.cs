using System.Globalization;
using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Webhooks;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Webhook deliveries through the whole pipeline to real Kestrel receivers, on a fake clock.</summary>
public sealed class WebhookDeliveryTests
{
    private const string Secret = "orders-secret";

    private static WebhookNotificationDefinition Webhook(Uri url, int retries = 5, int timeoutMs = 5000, string[]? secrets = null,
        WebhookSignatureFormat format = WebhookSignatureFormat.Conductor, string ensemble = "orders", int index = 0) =>
        new(ensemble, index, new[] { EventNames.ExecutionCompleted, EventNames.ExecutionFailed }, url, secrets ?? new[] { Secret }, retries,
            TimeSpan.FromMilliseconds(timeoutMs), new Dictionary<string, string> { ["X-Team"] = "payments" }, format);

    [Fact]
    public async Task Scripted_failures_produce_exactly_the_scheduled_attempts_each_signed_anew()
    {
        await using var receiver = await Receiver.StartAsync(
            Reply.Status(500), Reply.Status(503), Reply.Status(429, ("Retry-After", "200")), Reply.Status(408), Reply.Reset, Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var receipt = await pipeline.CompletedAsync();
        var id = Assert.Single(receipt.DeliveryIds);
        var payload = (await pipeline.RecordAsync(id)).Payload.ToArray();

        // Offsets from the start, in seconds, at which each attempt must run: 1 s, 5 s, then Retry-After 200 s
        // instead of 30 s, then 2 min, then 5 min.
        var expected = new[] { 0, 1, 6, 206, 326, 626 };
        for (var attempt = 0; attempt < expected.Length; attempt++)
        {
            var due = Pipeline.Start.AddSeconds(expected[attempt]);
            if (attempt > 0)
            {
                // One millisecond early, nothing is due.
                pipeline.Time.SetUtcNow(due.AddMilliseconds(-1));
                Assert.Equal(0, await pipeline.Processor.RunDueAsync());
                Assert.Equal(attempt, receiver.Count);
                pipeline.Time.SetUtcNow(due);
            }

            Assert.Equal(1, await pipeline.Processor.RunDueAsync());
            Assert.Equal(attempt + 1, receiver.Count);
        }

        Assert.Equal(0, await pipeline.Processor.RunDueAsync());
        var record = await pipeline.RecordAsync(id);
        Assert.Equal(DeliveryStatus.Delivered, record.Status);
        Assert.Equal(6, record.Attempts);

        var attempts = await pipeline.Store.AttemptsAsync(id);
        Assert.Equal(expected.Select(s => Pipeline.Start.AddSeconds(s)), attempts.Select(a => a.StartedAt));
        Assert.Equal(new int?[] { 500, 503, 429, 408, null, 200 }, attempts.Select(a => a.StatusCode));
        Assert.Equal(AttemptErrorKind.Connection, attempts[4].ErrorKind);

        var requests = receiver.Requests;
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            var timestamp = Pipeline.Start.AddSeconds(expected[i]).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            Assert.Equal("POST", request.Method);
            Assert.Equal(payload, request.Body);
            Assert.Equal("application/json", request.Header("Content-Type"));
            Assert.Equal("execution.completed", request.Header("X-Conductor-Event"));
            Assert.Equal(id, request.Header("X-Conductor-Delivery-Id"));
            Assert.Equal((i + 1).ToString(CultureInfo.InvariantCulture), request.Header("X-Conductor-Delivery-Attempt"));
            Assert.Equal(timestamp, request.Header("X-Conductor-Timestamp"));
            Assert.Equal(WebhookSigner.SignConductor(Secret, long.Parse(timestamp, CultureInfo.InvariantCulture), request.Body), request.Header("X-Conductor-Signature"));
            Assert.Equal("payments", request.Header("X-Team"));
        }

        Assert.Equal(
            """{"event":"execution.completed","timestamp":"2024-01-15T10:30:00.000Z","data":{"ensemble":"orders","id":"exec-1","status":"completed","output":null,"duration":42}}""",
            Encoding.UTF8.GetString(payload));
    }

    [Theory]
    [InlineData(404)]
    [InlineData(410)]
    [InlineData(400)]
    public async Task Client_errors_are_dead_lettered_at_once(int status)
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(status));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var id = (await pipeline.FailedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        pipeline.Time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, await pipeline.Processor.RunDueAsync());

        var record = await pipeline.RecordAsync(id);
        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.Equal(status, record.LastStatusCode);
        Assert.Equal(1, receiver.Count);
        Assert.StartsWith($"HTTP {status}", record.LastError);
    }

    [Fact]
    public async Task Redirects_count_as_success_and_are_not_followed()
    {
        await using var elsewhere = await Receiver.StartAsync(Reply.Status(200));
        await using var receiver = await Receiver.StartAsync(Reply.Status(301, ("Location", elsewhere.Url().ToString())));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
        Assert.Equal(1, receiver.Count);
        Assert.Equal(0, elsewhere.Count);
    }

    [Fact]
    public async Task A_hang_past_the_timeout_is_a_retryable_timeout()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Hang, Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url(), retries: 1, timeoutMs: 1500) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();

        var run = pipeline.Processor.RunDueAsync();
        await receiver.WaitForAsync(1);
        Assert.False(run.IsCompleted);
        pipeline.Time.Advance(TimeSpan.FromMilliseconds(1499));
        await Task.Yield();
        Assert.Equal(DeliveryStatus.Pending, (await pipeline.RecordAsync(id)).Status);
        pipeline.Time.Advance(TimeSpan.FromMilliseconds(1));
        await run;

        var attempt = Assert.Single(await pipeline.Store.AttemptsAsync(id));
        Assert.Equal(AttemptErrorKind.Timeout, attempt.ErrorKind);
        Assert.Equal("no response within 1500 ms", attempt.Error);
        Assert.Equal(Pipeline.Start.AddMilliseconds(1500).AddSeconds(1), attempt.NextDueAt);

        pipeline.Time.Advance(TimeSpan.FromSeconds(1));
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("sqlite")]
    public async Task Exhausted_deliveries_keep_the_last_error_and_can_be_replayed(string kind)
    {
        var failing = true;
        var directory = Path.Combine(Path.GetTempPath(), "conductor-exhaust-" + Guid.NewGuid().ToString("N"));
        await using var receiver = await Receiver.StartAsync((_, _) => failing ? Reply.Status(502) : Reply.Status(204));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url(), retries: 2) },
            store: kind == "sqlite" ? () => new Conductor.Sdk.Sqlite.SqliteDeliveryStore(Path.Combine(directory, "deliveries.db")) : null);
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        pipeline.Time.Advance(TimeSpan.FromSeconds(1));
        await pipeline.Processor.RunDueAsync();
        pipeline.Time.Advance(TimeSpan.FromSeconds(5));
        await pipeline.Processor.RunDueAsync();
        pipeline.Time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, await pipeline.Processor.RunDueAsync());

        var dead = await pipeline.RecordAsync(id);
        Assert.Equal(DeliveryStatus.DeadLettered, dead.Status);
        Assert.Equal(3, dead.Attempts);
        Assert.Equal(502, dead.LastStatusCode);
        Assert.Equal("HTTP 502 Bad Gateway", dead.LastError);
        Assert.Equal(new[] { id }, (await pipeline.Store.ListAsync(new DeliveryQuery(Status: DeliveryStatus.DeadLettered))).Select(d => d.Id));

        failing = false;
        Assert.True(await pipeline.Store.ReplayAsync(id, pipeline.Time.GetUtcNow()));
        await pipeline.Processor.RunDueAsync();
        var replayed = await pipeline.RecordAsync(id);
        Assert.Equal(DeliveryStatus.Delivered, replayed.Status);
        Assert.Equal("4", receiver.Requests[3].Header("X-Conductor-Delivery-Attempt"));
        Assert.Equal(id, receiver.Requests[3].Header("X-Conductor-Delivery-Id"));
        Assert.Equal(new[] { 502, 502, 502, 204 }, (await pipeline.Store.AttemptsAsync(id)).Select(a => a.StatusCode ?? 0));
        await pipeline.DisposeAsync();
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Standard_webhooks_format_signs_with_every_secret_during_rotation()
    {
        const string oldSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        const string newSecret = "whsec_dGhpcy1pcy10aGUtbmV3LXNlY3JldC1rZXk=";
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url(), secrets: new[] { newSecret, oldSecret }, format: WebhookSignatureFormat.StandardWebhooks) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();

        var request = Assert.Single(receiver.Requests);
        Assert.Equal(id, request.Header("webhook-id"));
        Assert.Equal(Pipeline.Start.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), request.Header("webhook-timestamp"));
        Assert.Equal(2, request.Header("webhook-signature").Split(' ').Length);
        Assert.False(request.Headers.ContainsKey("x-conductor-signature"));
        foreach (var secret in new[] { oldSecret, newSecret })
        {
            Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.VerifyStandardWebhooks(
                request.Body, request.Header("webhook-id"), request.Header("webhook-timestamp"), request.Header("webhook-signature"), new[] { secret }, pipeline.Time.GetUtcNow()));
        }
    }

    [Fact]
    public async Task One_event_fans_out_to_every_subscribed_notification_only()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var onlyFailures = new WebhookNotificationDefinition("orders", 1, new[] { EventNames.ExecutionFailed }, receiver.Url("/failures"), new[] { Secret });
        var otherEnsemble = Webhook(receiver.Url("/other"), ensemble: "invoices");
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url("/all")), onlyFailures, otherEnsemble });

        var completed = await pipeline.CompletedAsync();
        var failed = await pipeline.FailedAsync();
        Assert.Single(completed.DeliveryIds);
        Assert.Equal(2, failed.DeliveryIds.Count);
        Assert.Empty((await pipeline.Dispatcher.DispatchAsync(new StateUpdated(pipeline.Time.GetUtcNow(), "orders", "exec-1", null))).DeliveryIds);

        await pipeline.Processor.RunDueAsync();
        Assert.Equal(new[] { "/all", "/all", "/failures" }, receiver.Requests.Select(r => r.Path).Order());
        // The same event carries the same body to each notification, under different delivery ids.
        var failures = receiver.Requests.Where(r => r.Header("X-Conductor-Event") == "execution.failed").ToList();
        Assert.Equal(failures[0].Body, failures[1].Body);
        Assert.NotEqual(failures[0].Header("X-Conductor-Delivery-Id"), failures[1].Header("X-Conductor-Delivery-Id"));
    }

    [Fact]
    public async Task Deliveries_are_stored_before_dispatch_returns()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        var stored = await pipeline.RecordAsync(id);
        Assert.Equal(DeliveryStatus.Pending, stored.Status);
        Assert.Equal(0, stored.Attempts);
        Assert.Equal(6, stored.MaxAttempts);
        Assert.Equal(0, receiver.Count);
    }
}
