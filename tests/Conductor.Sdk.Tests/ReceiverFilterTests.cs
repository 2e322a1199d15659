using System.Globalization;
using System.Net;
using System.Text;
using Conductor.Sdk.AspNetCore;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>The ASP.NET Core endpoint filter on a real Kestrel receiver.</summary>
public sealed class ReceiverFilterTests
{
    private static readonly DateTimeOffset Now = Pipeline.Start;

    private static Task<Receiver> StartReceiverAsync(FakeTimeProvider time, Action<ConductorWebhookVerificationOptions> configure)
    {
        Receiver? self = null;
        var started = Receiver.StartAsync(
            (_, _) => Reply.Status(500),
            map: app => app.MapPost("/hooks", (HttpContext context) =>
            {
                var verified = VerifiedWebhook.Get(context)!;
                self!.Record(new ReceivedRequest("POST", "/hooks", new Dictionary<string, string>
                {
                    ["delivery-id"] = verified.DeliveryId ?? string.Empty,
                    ["event"] = verified.Event ?? string.Empty,
                    ["attempt"] = verified.Attempt.ToString(CultureInfo.InvariantCulture),
                }, verified.Body.ToArray()));
                return Results.Ok();
            }).RequireConductorSignature(configure),
            services: services => services.AddSingleton<TimeProvider>(time));
        return started.ContinueWith(t => self = t.Result);
    }

    [Fact]
    public async Task The_pipeline_delivers_to_a_filtered_endpoint_and_a_wrong_secret_is_rejected()
    {
        var time = new FakeTimeProvider(Now);
        await using var receiver = await StartReceiverAsync(time, o => o.Secrets.Add("right"));
        var url = receiver.Url();
        await using var pipeline = Pipeline.Create(new NotificationDefinition[]
        {
            new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "right" }),
            new WebhookNotificationDefinition("orders", 1, new[] { EventNames.ExecutionCompleted }, url, new[] { "wrong" }),
        });
        var receipt = await pipeline.CompletedAsync();
        await pipeline.Processor.RunDueAsync();

        var good = await pipeline.RecordAsync(receipt.DeliveryIds[0]);
        var bad = await pipeline.RecordAsync(receipt.DeliveryIds[1]);
        Assert.Equal(DeliveryStatus.Delivered, good.Status);
        Assert.Equal((DeliveryStatus.DeadLettered, 401), (bad.Status, bad.LastStatusCode));
        var seen = Assert.Single(receiver.Requests);
        Assert.Equal(good.Id, seen.Header("delivery-id"));
        Assert.Equal("execution.completed", seen.Header("event"));
        Assert.Equal("1", seen.Header("attempt"));
        Assert.Equal(good.Payload.ToArray(), seen.Body);
    }

    [Fact]
    public async Task The_filter_names_why_it_rejects()
    {
        var time = new FakeTimeProvider(Now);
        await using var receiver = await StartReceiverAsync(time, o =>
        {
            o.Secrets.Add("new-secret");
            o.Secrets.Add("old-secret");
        });
        using var client = new HttpClient();
        var body = Encoding.UTF8.GetBytes("""{"event":"execution.completed","timestamp":"2024-01-15T10:30:00.000Z","data":{"ensemble":"demo","id":"exec-123"}}""");
        var stamp = Now.ToUnixTimeSeconds();

        async Task<(HttpStatusCode Status, string Body)> Send(byte[] content, string? signature, long? timestamp)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, receiver.Url()) { Content = new ByteArrayContent(content) };
            if (signature is not null) request.Headers.Add("X-Conductor-Signature", signature);
            if (timestamp is not null) request.Headers.Add("X-Conductor-Timestamp", timestamp.Value.ToString(CultureInfo.InvariantCulture));
            request.Headers.Add("X-Conductor-Delivery-Id", "dlv_1");
            using var response = await client.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        // Signed with the old secret during rotation: accepted.
        Assert.Equal(HttpStatusCode.OK, (await Send(body, WebhookSigner.SignConductor("old-secret", stamp, body), stamp)).Status);

        var tampered = (byte[])body.Clone();
        tampered[10] ^= 1;
        var rejected = await Send(tampered, WebhookSigner.SignConductor("new-secret", stamp, body), stamp);
        Assert.Equal(HttpStatusCode.Unauthorized, rejected.Status);
        Assert.Contains("does not match", rejected.Body);

        Assert.Contains("does not match", (await Send(body, WebhookSigner.SignConductor("someone-else", stamp, body), stamp)).Body);
        Assert.Contains("missing", (await Send(body, null, stamp)).Body);
        Assert.Contains("missing", (await Send(body, WebhookSigner.SignConductor("new-secret", stamp, body), null)).Body);

        // A replay of a request captured 301 s ago is refused even though its signature is genuine.
        var old = stamp - 301;
        var replay = await Send(body, WebhookSigner.SignConductor("new-secret", old, body), old);
        Assert.Equal(HttpStatusCode.Unauthorized, replay.Status);
        Assert.Contains("outside the allowed tolerance", replay.Body);

        Assert.Equal(1, receiver.Count);
    }

    [Fact]
    public async Task Standard_webhooks_receivers_are_supported()
    {
        const string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        var time = new FakeTimeProvider(Now);
        await using var receiver = await StartReceiverAsync(time, o =>
        {
            o.Secrets.Add(secret);
            o.Format = WebhookSignatureFormat.StandardWebhooks;
        });
        await using var pipeline = Pipeline.Create(new[]
        {
            new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { secret }, format: WebhookSignatureFormat.StandardWebhooks),
        });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await pipeline.RecordAsync(id)).Status);
        Assert.Equal(id, receiver.Requests.Single().Header("delivery-id"));
    }

    [Theory]
    [InlineData(false, "401", "signature")] // no signature headers: refused before the body is read
    [InlineData(true, "413", "exceeds 65536 bytes")] // fresh headers, a body that never ends: refused once MaxBodyBytes were read (not Kestrel's 30 MB)
    public async Task An_endless_chunked_body_is_answered_without_being_read_to_its_end(bool signed, string expected, string detail)
    {
        var time = new FakeTimeProvider(Now);
        await using var receiver = await StartReceiverAsync(time, o =>
        {
            o.Secrets.Add("whsec-test");
            o.MaxBodyBytes = 64 * 1024;
        });
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, receiver.BaseAddress.Port);
        var stream = client.GetStream();
        var head = "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n" +
            (signed ? $"X-Conductor-Timestamp: {Now.ToUnixTimeSeconds()}\r\nX-Conductor-Signature: sha256=00\r\n" : string.Empty) + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var stop = new CancellationTokenSource();
        // The sender keeps sending 16 KB chunks and never sends the last one; it stops when the server closes or answers.
        var sending = Task.Run(async () =>
        {
            var chunk = Encoding.ASCII.GetBytes("4000\r\n" + new string('x', 0x4000) + "\r\n");
            try
            {
                while (!stop.IsCancellationRequested) await stream.WriteAsync(chunk, stop.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        });
        using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
        var status = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        // The rest of the answer: the filter's problem+json names why (Kestrel's own limits answer without it).
        var answer = new StringBuilder();
        while (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)) is { } line)
        {
            answer.AppendLine(line);
            if (line.Contains('}', StringComparison.Ordinal)) break;
        }

        await stop.CancelAsync();
        Assert.StartsWith($"HTTP/1.1 {expected}", status);
        Assert.Contains("application/problem+json", answer.ToString());
        Assert.Contains(detail, answer.ToString());
        Assert.Equal(0, receiver.Count);
        client.Close();
        await sending;
        Conductor.Sdk.Testing.ReliabilityResults.Record("Verifier", $"endless chunked request body to the ASP.NET Core filter: {expected} without reading it all",
            status!, signed ? "signed" : "unsigned");
    }

    [Fact]
    public void The_filter_refuses_to_be_configured_without_a_secret()
    {
        var app = WebApplication.CreateSlimBuilder().Build();
        var error = Assert.Throws<ArgumentException>(() => app.MapPost("/hooks", () => Results.Ok()).RequireConductorSignature(_ => { }));
        Assert.Contains("at least one non-empty secret", error.Message);
    }
}
