using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #19 point 3: receivers that attack the sender — bodies that never end or claim a gigabyte, headers sent a
/// byte at a time, absurd Retry-After values, redirects to internal addresses, TLS that cannot be trusted — and proof
/// that none of them holds up deliveries to a healthy endpoint.
/// </summary>
public sealed class HostileReceiverTests(ITestOutputHelper output)
{
    private const long Gigabyte = 1L << 30;

    // Far less than what the receivers offer (endless, or 1 GB): the client read at most its 16 KB cap, and the rest is
    // what loopback socket buffers took in before the connection was closed.
    private const long MostAClientMayHaveTaken = 32L << 20;

    private static WebhookNotificationDefinition Webhook(Uri url, int retries = 2, int timeoutMs = 2000, string ensemble = "orders") =>
        new(ensemble, 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "s" }, retries, TimeSpan.FromMilliseconds(timeoutMs));

    [Theory]
    [InlineData(200, DeliveryStatus.Delivered)]
    [InlineData(500, DeliveryStatus.Pending)]
    public async Task An_endless_chunked_response_body_is_read_only_up_to_the_cap(int status, DeliveryStatus expected)
    {
        await using var server = RawHttpServer.Start(async (self, stream, token) =>
        {
            if (!await self.TryWriteAsync(stream, $"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n", token)) return;
            var chunk = System.Text.Encoding.ASCII.GetBytes("10000\r\n" + new string('x', 0x10000) + "\r\n");
            while (!token.IsCancellationRequested && await self.TryWriteAsync(stream, chunk, token))
            {
            }
        });

        var record = await AttemptOnceAsync(server.Url);
        Assert.Equal(expected, record.Status);
        Assert.Equal(status, record.LastStatusCode);
        var written = await SettledAsync(() => server.Written);
        output.WriteLine($"endless chunked body, status {status}: the receiver got {written:N0} bytes out before the connection closed");
        Assert.InRange(written, 1, MostAClientMayHaveTaken);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", "endless chunked response: read capped, attempt ends by itself", $"{record.Status}; receiver got {written / 1e6:0.0} MB out before the close", status.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_one_gigabyte_response_body_is_not_read()
    {
        await using var server = RawHttpServer.Start(async (self, stream, token) =>
        {
            if (!await self.TryWriteAsync(stream, $"HTTP/1.1 200 OK\r\nContent-Length: {Gigabyte}\r\n\r\n", token)) return;
            var block = new byte[64 * 1024];
            for (long sent = 0; sent < Gigabyte && await self.TryWriteAsync(stream, block, token); sent += block.Length)
            {
            }
        });

        var record = await AttemptOnceAsync(server.Url);
        Assert.Equal(DeliveryStatus.Delivered, record.Status);
        var written = await SettledAsync(() => server.Written);
        output.WriteLine($"1 GB body: {written:N0} bytes left the receiver before the connection closed");
        Assert.InRange(written, 1, MostAClientMayHaveTaken);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", "1 GB response body: not read", $"delivered; {written / 1e6:0.0} MB of 1,074 MB left the receiver");
    }

    [Theory]
    [InlineData("headers")]
    [InlineData("body")]
    public async Task A_response_sent_a_byte_at_a_time_is_cut_off_by_the_attempt_timeout(string trickled)
    {
        await using var server = RawHttpServer.Start(async (self, stream, token) =>
        {
            var start = trickled == "headers" ? "HTTP/1.1 200 OK\r\nX-Slow: " : "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
            if (!await self.TryWriteAsync(stream, start, token)) return;
            while (!token.IsCancellationRequested && await self.TryWriteAsync(stream, "a", token)) await Task.Delay(50, token);
        });

        await using var pipeline = Pipeline.Create(new[] { Webhook(server.Url, timeoutMs: 2000) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        var run = pipeline.Processor.RunDueAsync();
        await WorkerProcess.WaitUntilAsync(() => server.Written > 40, TimeSpan.FromSeconds(30), "the receiver to trickle");
        Assert.False(run.IsCompleted, "the attempt ended while the receiver was still trickling");

        pipeline.Time.Advance(TimeSpan.FromSeconds(2));
        // Bounded: an attempt that kept another timeout than its notification's would otherwise trickle on for ever.
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        var attempt = Assert.Single(await pipeline.Store.AttemptsAsync(id));
        Assert.Equal(AttemptOutcome.Retry, attempt.Outcome);
        Assert.Equal(AttemptErrorKind.Timeout, attempt.ErrorKind);
        Assert.Equal("no response within 2000 ms", attempt.Error);
        output.WriteLine($"trickled {trickled}: {server.Written:N0} bytes before the timeout");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", "response trickled a byte at a time: cut off by the 2 s attempt timeout", $"{attempt.ErrorKind}: {attempt.Error}", trickled);
    }

    [Fact]
    public async Task Response_headers_over_the_client_limit_fail_the_attempt_without_buffering_them()
    {
        await using var server = RawHttpServer.Start(async (self, stream, token) =>
        {
            if (!await self.TryWriteAsync(stream, "HTTP/1.1 200 OK\r\n", token)) return;
            var header = "X-Huge: " + new string('h', 8000) + "\r\n";
            for (var i = 0; i < 16 * 1024 && await self.TryWriteAsync(stream, header, token); i++)
            {
            }
        });

        var record = await AttemptOnceAsync(server.Url);
        Assert.Equal(DeliveryStatus.Pending, record.Status);
        Assert.Equal(AttemptErrorKind.Connection, record.LastErrorKind);
        output.WriteLine($"oversized headers: {record.LastError}; {await SettledAsync(() => server.Written):N0} bytes sent");
        Assert.InRange(server.Written, 1, MostAClientMayHaveTaken);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", "response headers over 64 KB: attempt fails, retried", $"{record.LastErrorKind}: {record.LastError}");
    }

    public static TheoryData<string, double> RetryAfters => new()
    {
        { "120", 120 },                       // honoured
        { "999999999", 300 },                 // capped at five minutes
        { "99999999999999999999999", 1 },     // not a number .NET can hold: the schedule
        { "-30", 1 },                         // negative: the schedule
        { "0", 1 },                           // no sooner than the schedule
        { "soon", 1 },                        // not a value: the schedule
        { "Wed, 21 Oct 2015 07:28:00 GMT", 1 }, // a date in the past: the schedule
        { "120, 300", 1 },                    // two values: the schedule
    };

    [Theory]
    [MemberData(nameof(RetryAfters))]
    public async Task Retry_After_on_a_429_is_honoured_within_bounds_and_ignored_when_absurd(string value, double expectedSeconds)
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(429, ("Retry-After", value)));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        var attempt = Assert.Single(await pipeline.Store.AttemptsAsync(id));
        Assert.Equal(AttemptOutcome.Retry, attempt.Outcome);
        Assert.Equal(429, attempt.StatusCode);
        var wait = attempt.NextDueAt!.Value - (attempt.StartedAt + attempt.Duration);
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), wait);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", $"429 Retry-After: {value} → retry in {expectedSeconds} s", $"retry in {wait.TotalSeconds} s", value);
    }

    [Fact]
    public async Task A_429_with_a_Retry_After_date_later_than_the_schedule_is_honoured()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(429, ("Retry-After", Pipeline.Start.AddMinutes(2).ToString("R"))));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        var attempt = Assert.Single(await pipeline.Store.AttemptsAsync(id));
        Assert.Equal(Pipeline.Start.AddMinutes(2), attempt.NextDueAt);
    }

    [Theory]
    [InlineData(301, "http://169.254.169.254/latest/meta-data/")]
    [InlineData(302, "http://10.0.0.1/")]
    [InlineData(307, "http://[::1]:1/")]
    [InlineData(308, "http://localhost/")]
    public async Task Redirects_to_internal_addresses_are_not_followed(int status, string location)
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(status, ("Location", location)));
        await using var pipeline = Pipeline.Create(new[] { Webhook(receiver.Url()) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        var record = await pipeline.RecordAsync(id);
        Assert.Equal(status, record.LastStatusCode);
        Assert.Equal(DeliveryStatus.Delivered, record.Status);
        Assert.Equal(1, receiver.Count);
        Assert.Single(await pipeline.Store.AttemptsAsync(id));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", "redirect to an internal address: not followed", $"HTTP {status} recorded, 1 request, Location not contacted", location);
    }

    [Theory]
    [InlineData("self-signed")]
    [InlineData("expired")]
    [InlineData("plain-http-port")]
    public async Task A_TLS_failure_is_a_retryable_connection_error_that_names_TLS(string failure)
    {
        await using var app = await StartTlsReceiverAsync(failure);
        var port = new Uri(app.Urls.Single()).Port;
        var url = new Uri($"https://127.0.0.1:{port}/hook");
        var record = await AttemptOnceAsync(url);
        output.WriteLine($"{failure}: {record.LastError}");
        Assert.Equal(DeliveryStatus.Pending, record.Status);
        Assert.Equal(AttemptErrorKind.Connection, record.LastErrorKind);
        Assert.Contains("SSL", record.LastError);
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile receivers", "untrusted TLS: retryable connection error naming TLS", $"{record.LastErrorKind}: {record.LastError}", failure);
    }

    /// <summary>
    /// Isolation, measured: four hostile endpoints (a hang, headers a byte at a time, an endless body, a TLS failure)
    /// and one healthy one, all due at once with every hostile delivery ahead of the healthy ones in the store. The
    /// clock is frozen, so no attempt timeout can free a slot: the healthy endpoint is served anyway.
    /// </summary>
    [Fact]
    public async Task Hostile_endpoints_do_not_delay_a_healthy_one()
    {
        await using var hang = await Receiver.StartAsync(Reply.Hang);
        await using var slow = RawHttpServer.Start(async (self, stream, token) =>
        {
            if (!await self.TryWriteAsync(stream, "HTTP/1.1 200 OK\r\nX-Slow: ", token)) return;
            while (!token.IsCancellationRequested && await self.TryWriteAsync(stream, "a", token)) await Task.Delay(50, token);
        });
        await using var endless = RawHttpServer.Start(async (self, stream, token) =>
        {
            if (!await self.TryWriteAsync(stream, "HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n", token)) return;
            var chunk = System.Text.Encoding.ASCII.GetBytes("1000\r\n" + new string('x', 0x1000) + "\r\n");
            while (!token.IsCancellationRequested && await self.TryWriteAsync(stream, chunk, token))
            {
            }
        });
        await using var tls = await StartTlsReceiverAsync("self-signed");
        await using var healthy = await Receiver.StartAsync(Reply.Status(200));
        var hostile = new[] { hang.Url(), slow.Url, endless.Url, new Uri($"https://127.0.0.1:{new Uri(tls.Urls.Single()).Port}/hook") };
        await using var pipeline = Pipeline.Create(
            hostile.Select((url, i) => Webhook(url, retries: 5, timeoutMs: 30_000, ensemble: "hostile" + i)).Append(Webhook(healthy.Url(), ensemble: "healthy")),
            options =>
            {
                options.MaxConcurrentDeliveries = 32;
                options.MaxConcurrentPerEndpoint = 4;
                options.CircuitBreakerMinimumThroughput = int.MaxValue;
            });

        const int PerEndpoint = 25;
        for (var i = 0; i < PerEndpoint; i++)
        {
            for (var h = 0; h < hostile.Length; h++) await pipeline.CompletedAsync("hostile" + h, $"h{h}-{i}");
        }

        var fast = new List<string>();
        for (var i = 0; i < PerEndpoint; i++) fast.AddRange((await pipeline.CompletedAsync("healthy", $"ok-{i}")).DeliveryIds);

        var worker = pipeline.Services.GetServices<IHostedService>().OfType<DeliveryWorker>().Single();
        var clock = Stopwatch.StartNew();
        await worker.StartAsync(CancellationToken.None);
        try
        {
            await healthy.WaitForAsync(PerEndpoint);
            var served = clock.Elapsed;
            foreach (var id in fast) await WorkerProcess.WaitUntilAsync(async () => (await pipeline.RecordAsync(id)).Status == DeliveryStatus.Delivered, TimeSpan.FromSeconds(30), id + " to be recorded as delivered");
            output.WriteLine($"{PerEndpoint} healthy deliveries behind {PerEndpoint * hostile.Length} hostile ones: all received in {served.TotalMilliseconds:0} ms; " +
                $"hanging and trickling attempts still in flight: {pipeline.Processor.InFlight}");

            for (var h = 0; h < hostile.Length; h++)
            {
                var all = await pipeline.Store.ListAsync(new DeliveryQuery(Ensemble: "hostile" + h, Limit: 100));
                output.WriteLine($"{hostile[h]}: {all.Count(d => d.Attempts > 0)} attempted, {all.Count(d => d.Status != DeliveryStatus.Pending)} finished");
            }

            // The hang and the trickle still hold their endpoints' slots (the clock has not moved), and no more than those.
            Assert.Equal(4, hang.Count);
            Assert.InRange(slow.Requests, 1, 4);
            Assert.InRange(pipeline.Processor.InFlight, hang.Count + slow.Requests, 16);
            Conductor.Sdk.Testing.ReliabilityResults.Record("Isolation", "4 hostile endpoints (hang, trickle, endless body, bad TLS), 100 deliveries ahead of 25 healthy ones: healthy ones not delayed",
                $"25 healthy delivered in {served.TotalMilliseconds:0} ms with the clock frozen (no timeout fired)");
        }
        finally
        {
            pipeline.Time.Advance(TimeSpan.FromMinutes(1));
            await worker.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>Sends one delivery, waits for its first attempt to be recorded, and returns the record.</summary>
    private static async Task<DeliveryRecord> AttemptOnceAsync(Uri url)
    {
        await using var pipeline = Pipeline.Create(new[] { Webhook(url) });
        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        var run = pipeline.Processor.RunDueAsync();
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(finished == run, "the attempt did not end by itself (it should not need the timeout)");
        await run;
        return await pipeline.RecordAsync(id);
    }

    /// <summary>Reads a counter once it stops moving (the receiver's writes end when the client closes).</summary>
    private static async Task<long> SettledAsync(Func<long> counter)
    {
        var last = -1L;
        for (var i = 0; i < 200 && counter() != last; i++)
        {
            last = counter();
            await Task.Delay(50);
        }

        return counter();
    }

    /// <summary>A Kestrel receiver whose TLS the client cannot trust (or no TLS at all on an https URL).</summary>
    private static async Task<WebApplication> StartTlsReceiverAsync(string failure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (failure != "plain-http-port") listen.UseHttps(Certificate(expired: failure == "expired"));
        }));
        var app = builder.Build();
        app.MapPost("/hook", () => Results.Ok());
        await app.StartAsync();
        return app;
    }

    private static X509Certificate2 Certificate(bool expired)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        using var certificate = expired ? request.CreateSelfSigned(now.AddDays(-30), now.AddDays(-1)) : request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
