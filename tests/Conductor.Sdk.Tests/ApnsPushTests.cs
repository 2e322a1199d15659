using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Push;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The APNs provider against a loopback HTTP/2 server that checks the exact request and verifies the provider token
/// with the public half of the test's key.
/// </summary>
public sealed class ApnsPushTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);
    private static readonly string DeviceToken = string.Concat(Enumerable.Repeat("0f1e2d3c", 8));
    private static readonly ECDsa Key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private static readonly string Pem = Key.ExportPkcs8PrivateKeyPem();
    private const string KeyId = "KEY1234567";
    private const string TeamId = "TEAM123456";

    /// <summary>One request as the APNs stand-in saw it.</summary>
    private sealed record Seen(string Protocol, string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
    {
        public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException($"header {name} was not sent");
    }

    /// <summary>A reply: status, Apple's reason (written as {"reason":…}) and extra headers.</summary>
    private sealed record Answer(int Status, string? Reason = null, params (string Name, string Value)[] Headers);

    /// <summary>Kestrel on 127.0.0.1 speaking only HTTP/2 (prior-knowledge h2c); the last answer repeats.</summary>
    private sealed class ApnsServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<Seen> _seen = new();

        private ApnsServer(WebApplication app) => _app = app;

        public static async Task<ApnsServer> StartAsync(params Answer[] answers)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
            var app = builder.Build();
            var server = new ApnsServer(app);
            var count = 0;
            app.Run(async context =>
            {
                using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
                server._seen.Enqueue(new Seen(context.Request.Protocol, context.Request.Method, context.Request.Path, headers, body));
                var answer = answers.Length == 0 ? new Answer(200) : answers[Math.Min(Interlocked.Increment(ref count) - 1, answers.Length - 1)];
                context.Response.StatusCode = answer.Status;
                context.Response.Headers["apns-id"] = headers.GetValueOrDefault("apns-id", "");
                foreach (var (name, value) in answer.Headers) context.Response.Headers[name] = value;
                if (answer.Reason is not null)
                {
                    context.Response.ContentType = "application/json";
                    var timestamp = answer.Status == 410 ? ",\"timestamp\":1705314600000" : "";
                    await context.Response.WriteAsync($"{{\"reason\":\"{answer.Reason}\"{timestamp}}}");
                }
            });
            await app.StartAsync();
            return server;
        }

        public Uri BaseAddress => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

        public IReadOnlyList<Seen> Requests => _seen.ToArray();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private static CompiledTemplate Text(string value) => new(value, (in TemplateContext _) => value);

    /// <summary>A rich notification: title and body from the event, an image, one data key and two actions.</summary>
    private static PushNotificationDefinition Rich() => new("health", 0, new[] { EventNames.ExecutionFailed }, "apns",
        new Dictionary<string, CompiledTemplate> { ["deviceToken"] = Text(DeviceToken) },
        new CompiledTemplate("Run ${event}", (in TemplateContext c) => "Run " + c.Event),
        new CompiledTemplate("${ensemble.name} failed", (in TemplateContext c) => c.Ensemble + " failed"),
        Text("https://cdn.example.com/run.png"),
        new Dictionary<string, CompiledTemplate> { ["orderId"] = Text("42") },
        new[] { (Text("reply"), Text("Reply")), (Text("open"), Text("Open")) });

    /// <summary>Title and body only, with a <c>category</c> data key.</summary>
    private static PushNotificationDefinition Plain() => new("health", 0, new[] { EventNames.ExecutionFailed }, "apns",
        new Dictionary<string, CompiledTemplate> { ["deviceToken"] = Text(DeviceToken) },
        Text("Run failed"), Text("Open the app for details"), null,
        new Dictionary<string, CompiledTemplate> { ["category"] = Text("RUN_STATUS"), ["runId"] = Text("exec-1") },
        Array.Empty<(CompiledTemplate, CompiledTemplate)>());

    private static (ServiceProvider Provider, FakeTimeProvider Time, RecordingTokenHook Hook) Build(
        ApnsServer server, PushNotificationDefinition? notification = null, Action<ApnsPushOptions>? configure = null)
    {
        var time = new FakeTimeProvider(At);
        var hook = new RecordingTokenHook();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IPushTokenInvalidated>(hook);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddApnsPush(o =>
            {
                o.KeyId = KeyId;
                o.TeamId = TeamId;
                o.PrivateKey = Pem;
                o.BundleId = "com.example.app";
                o.BaseAddress = server.BaseAddress;
                configure?.Invoke(o);
            })
            .AddNotification(notification ?? Rich());
        return (services.BuildServiceProvider(), time, hook);
    }

    private static async Task<string> DispatchAsync(ServiceProvider provider, FakeTimeProvider time)
    {
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "health", "exec-1", new ErrorInfo("down", "T"), 1))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        return id;
    }

    private static async Task<DeliveryRecord> RecordAsync(ServiceProvider provider, string id) =>
        (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;

    /// <summary>Checks the signature with the public key and returns the decoded JWT header and claims.</summary>
    private static (string Header, string Claims) VerifiedToken(Seen request)
    {
        var authorization = request.Header("authorization");
        Assert.StartsWith("bearer ", authorization);
        var parts = authorization["bearer ".Length..].Split('.');
        Assert.Equal(3, parts.Length);
        using var verifier = ECDsa.Create();
        verifier.ImportSubjectPublicKeyInfo(Key.ExportSubjectPublicKeyInfo(), out _);
        var signature = Base64Url.DecodeFromChars(parts[2]);
        Assert.Equal(64, signature.Length);
        Assert.True(verifier.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
            "the provider token's ES256 signature does not verify with the test key");
        return (Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[0])), Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])));
    }

    private static string Claims(DateTimeOffset issuedAt) => $$"""{"iss":"{{TeamId}}","iat":{{issuedAt.ToUnixTimeSeconds()}}}""";

    [Fact]
    public async Task Rich_alert_goes_over_http2_with_every_apns_header_the_exact_body_and_a_verifiable_token()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(200));
        var (provider, time, hook) = Build(server, configure: o =>
        {
            o.Expiration = TimeSpan.FromHours(1);
            o.CollapseId = "run-status";
        });
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Delivered, 1, 200), (record.Status, record.Attempts, record.LastStatusCode));
        var request = Assert.Single(server.Requests);
        Assert.Equal(("HTTP/2", "POST", "/3/device/" + DeviceToken), (request.Protocol, request.Method, request.Path));
        Assert.Equal("com.example.app", request.Header("apns-topic"));
        Assert.Equal("alert", request.Header("apns-push-type"));
        Assert.Equal("10", request.Header("apns-priority"));
        Assert.Equal((At + TimeSpan.FromHours(1)).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), request.Header("apns-expiration"));
        Assert.Equal("run-status", request.Header("apns-collapse-id"));
        Assert.Equal(Guid.ParseExact(id["dlv_".Length..], "N").ToString("D"), request.Header("apns-id"));
        Assert.Equal("application/json", request.Header("content-type"));
        Assert.Equal(
            """{"aps":{"alert":{"title":"Run execution.failed","body":"health failed"},"mutable-content":1,"category":"reply"},"orderId":"42","image":"https://cdn.example.com/run.png"}""",
            request.Body);
        var (header, claims) = VerifiedToken(request);
        Assert.Equal($$"""{"alg":"ES256","kid":"{{KeyId}}"}""", header);
        Assert.Equal(Claims(At), claims);
        Assert.Empty(hook.Calls);
    }

    [Fact]
    public async Task Plain_alert_from_a_key_file_sends_expiration_0_no_collapse_id_and_takes_the_category_from_data()
    {
        var file = Path.Combine(Path.GetTempPath(), $"AuthKey_{Guid.NewGuid():N}.p8");
        await File.WriteAllTextAsync(file, Pem);
        try
        {
            await using var server = await ApnsServer.StartAsync(new Answer(200));
            var (provider, time, _) = Build(server, Plain(), o =>
            {
                o.PrivateKey = null;
                o.PrivateKeyFile = file;
                o.Priority = 5;
            });
            await using var __ = provider;
            var id = await DispatchAsync(provider, time);

            Assert.Equal(DeliveryStatus.Delivered, (await RecordAsync(provider, id)).Status);
            var request = Assert.Single(server.Requests);
            Assert.Equal(("0", "5"), (request.Header("apns-expiration"), request.Header("apns-priority")));
            Assert.False(request.Headers.ContainsKey("apns-collapse-id"));
            Assert.Equal("""{"aps":{"alert":{"title":"Run failed","body":"Open the app for details"},"category":"RUN_STATUS"},"runId":"exec-1"}""", request.Body);
            Assert.Equal(Claims(At), VerifiedToken(request).Claims);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_topic_in_the_yaml_is_sent_as_apns_topic_instead_of_the_bundle_id()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(200));
        var notification = Plain() with { Options = new Dictionary<string, CompiledTemplate> { ["topic"] = Text("com.example.app.watchkitapp") } };
        var (provider, time, _) = Build(server, notification);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);

        Assert.Equal(DeliveryStatus.Delivered, (await RecordAsync(provider, id)).Status);
        Assert.Equal("com.example.app.watchkitapp", Assert.Single(server.Requests).Header("apns-topic"));
    }

    [Fact]
    public async Task The_provider_token_is_reused_within_20_minutes_and_replaced_after_55()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(200));
        var (provider, time, _) = Build(server);
        await using var _ = provider;

        await DispatchAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(19));
        await DispatchAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(36));
        await DispatchAsync(provider, time);

        var requests = server.Requests;
        Assert.Equal(3, requests.Count);
        Assert.Equal(requests[0].Header("authorization"), requests[1].Header("authorization"));
        Assert.NotEqual(requests[1].Header("authorization"), requests[2].Header("authorization"));
        Assert.Equal(Claims(At), VerifiedToken(requests[1]).Claims);
        Assert.Equal(Claims(At + TimeSpan.FromMinutes(55)), VerifiedToken(requests[2]).Claims);
    }

    [Theory]
    [InlineData(410, "Unregistered")]
    [InlineData(400, "BadDeviceToken")]
    [InlineData(400, "DeviceTokenNotForTopic")]
    public async Task An_invalid_token_calls_the_hook_once_and_dead_letters_after_one_attempt(int status, string reason)
    {
        await using var server = await ApnsServer.StartAsync(new Answer(status, reason));
        var (provider, time, hook) = Build(server);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);

        var call = Assert.Single(hook.Calls);
        Assert.Equal(new PushTokenInvalidation("apns", new PushTarget("deviceToken", DeviceToken), "health", 0, id, $"{status} {reason}"), call);
        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.DeadLettered, 1, status, AttemptErrorKind.InvalidRecipient), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));

        time.Advance(TimeSpan.FromMinutes(10));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Single(server.Requests);
        Assert.Single(hook.Calls);
    }

    [Fact]
    public async Task TooManyRequests_with_Retry_After_is_retried_at_that_time()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(429, "TooManyRequests", ("Retry-After", "120")), new Answer(200));
        var (provider, time, hook) = Build(server);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);

        var waiting = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Pending, 1, At + TimeSpan.FromSeconds(120)), (waiting.Status, waiting.Attempts, waiting.DueAt));
        Assert.Equal("apns: 429 TooManyRequests", waiting.LastError);

        time.Advance(TimeSpan.FromSeconds(119));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Single(server.Requests);

        time.Advance(TimeSpan.FromSeconds(1));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(2, server.Requests.Count);
        Assert.Equal((DeliveryStatus.Delivered, 2), ((await RecordAsync(provider, id)).Status, (await RecordAsync(provider, id)).Attempts));
        Assert.Empty(hook.Calls);
    }

    [Fact]
    public async Task ExpiredProviderToken_renews_a_token_older_than_20_minutes_and_sends_again_in_the_same_attempt()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(200), new Answer(403, "ExpiredProviderToken"), new Answer(200));
        var (provider, time, _) = Build(server);
        await using var _ = provider;
        await DispatchAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(25));
        var id = await DispatchAsync(provider, time);

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Delivered, 1), (record.Status, record.Attempts));
        var requests = server.Requests;
        Assert.Equal(3, requests.Count);
        Assert.Equal(Claims(At), VerifiedToken(requests[1]).Claims);
        Assert.Equal(Claims(At + TimeSpan.FromMinutes(25)), VerifiedToken(requests[2]).Claims);
        Assert.Equal(requests[1].Header("apns-id"), requests[2].Header("apns-id"));
    }

    [Fact]
    public async Task ExpiredProviderToken_for_a_young_token_is_retried_later_without_renewing()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(403, "ExpiredProviderToken"), new Answer(200));
        var (provider, time, _) = Build(server);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);

        var waiting = await RecordAsync(provider, id);
        Assert.Single(server.Requests);
        // Renewing is allowed at 20 minutes; the worker caps any Retry-After at 5.
        Assert.Equal((DeliveryStatus.Pending, 1, At + RetrySchedule.MaxRetryAfter), (waiting.Status, waiting.Attempts, waiting.DueAt));
        Assert.StartsWith("apns: 403 ExpiredProviderToken for a provider token issued 0 min ago; check this server's clock.", waiting.LastError);

        time.Advance(RetrySchedule.MaxRetryAfter);
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var requests = server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal(requests[0].Header("authorization"), requests[1].Header("authorization"));
        Assert.Equal(DeliveryStatus.Delivered, (await RecordAsync(provider, id)).Status);
    }

    [Theory]
    [InlineData(400, "BadTopic", "apns: 400 BadTopic; check ApnsPushOptions.BundleId")]
    [InlineData(403, "InvalidProviderToken", "apns: 403 InvalidProviderToken; check ApnsPushOptions.KeyId, TeamId and the private key")]
    [InlineData(413, "PayloadTooLarge", "apns: 413 PayloadTooLarge; shorten the body or the data")]
    public async Task Other_refusals_are_permanent_with_Apples_reason_and_no_secret(int status, string reason, string error)
    {
        await using var server = await ApnsServer.StartAsync(new Answer(status, reason));
        var (provider, time, hook) = Build(server);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.DeadLettered, 1, AttemptErrorKind.Provider), (record.Status, record.Attempts, record.LastErrorKind));
        Assert.StartsWith(error, record.LastError);
        var jwt = server.Requests.Single().Header("authorization")["bearer ".Length..];
        Assert.DoesNotContain(jwt, record.LastError);
        Assert.Empty(hook.Calls);
    }

    [Fact]
    public async Task Service_unavailable_is_retried_on_the_schedule()
    {
        await using var server = await ApnsServer.StartAsync(new Answer(503, "ServiceUnavailable"), new Answer(200));
        var (provider, time, _) = Build(server);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);
        var waiting = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Pending, At + RetrySchedule.Delays[0], "apns: 503 ServiceUnavailable"), (waiting.Status, waiting.DueAt, waiting.LastError));
        time.Advance(RetrySchedule.Delays[0]);
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await RecordAsync(provider, id)).Status);
    }

    [Fact]
    public async Task A_key_that_is_not_a_p8_is_reported_without_its_content_and_nothing_is_sent()
    {
        const string secret = "c2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtbG9n";
        await using var server = await ApnsServer.StartAsync(new Answer(200));
        var (provider, time, _) = Build(server, configure: o => o.PrivateKey = $"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----");
        await using var _ = provider;

        var startup = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("ApnsPushOptions.PrivateKey is not a P-256 private key in PEM form", startup.Message);
        Assert.DoesNotContain(secret, startup.Message);

        var id = await DispatchAsync(provider, time);
        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.DeadLettered, 1), (record.Status, record.Attempts));
        Assert.StartsWith("apns is not configured: ApnsPushOptions.PrivateKey is not a P-256 private key in PEM form", record.LastError);
        Assert.DoesNotContain(secret, record.LastError);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Missing_settings_fail_start_up_naming_each_setting()
    {
        await using var server = await ApnsServer.StartAsync();
        var (provider, _, _) = Build(server, configure: o =>
        {
            o.KeyId = "";
            o.TeamId = " ";
            o.BundleId = "";
            o.PrivateKey = null;
            o.Priority = 7;
        });
        await using var _ = provider;
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate()).Message;
        foreach (var expected in new[] { "ApnsPushOptions.KeyId is not set", "ApnsPushOptions.TeamId is not set", "ApnsPushOptions.BundleId is not set", "PrivateKeyFile (its path) must be set", "Priority must be 10, 5 or 1 (it is 7)" })
        {
            Assert.Contains(expected, error);
        }
    }

    [Fact]
    public async Task A_target_that_is_not_a_hex_device_token_is_permanent_and_names_the_field()
    {
        await using var server = await ApnsServer.StartAsync();
        var notification = Plain() with { Targets = new Dictionary<string, CompiledTemplate> { ["deviceToken"] = Text("../../admin") } };
        var (provider, time, hook) = Build(server, notification);
        await using var _ = provider;
        var id = await DispatchAsync(provider, time);
        var record = await RecordAsync(provider, id);
        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.Equal("ensemble 'health', push notification #1, field 'deviceToken': the rendered value (11 characters) is not a hexadecimal APNs device token; check the template.", record.LastError);
        Assert.Empty(server.Requests);
        Assert.Empty(hook.Calls);
    }

    [Fact]
    public void Payloads_refuse_the_reserved_aps_key_and_more_than_4096_bytes()
    {
        var target = new PushTarget("deviceToken", DeviceToken);
        var reserved = new PushMessage("execution.failed", "n", target, "t", "b", null, new Dictionary<string, string> { ["aps"] = "x" }, Array.Empty<PushMessageAction>());
        Assert.Equal("the data key 'aps' is reserved by APNs; rename it.", ApnsPushProvider.CreatePayload(reserved).Error);
        var large = reserved with { Data = new Dictionary<string, string>(), Body = new string('x', 4100) };
        Assert.StartsWith("the APNs payload is 4", ApnsPushProvider.CreatePayload(large).Error);
        Assert.Null(ApnsPushProvider.CreatePayload(large with { Body = new string('x', 4000) }).Error);
    }

    [Fact]
    public void Apns_id_is_the_delivery_uuid_or_a_stable_version_8_uuid()
    {
        var guid = Guid.CreateVersion7();
        Assert.Equal(guid.ToString("D"), ApnsPushProvider.ApnsId("dlv_" + guid.ToString("N")));
        var derived = ApnsPushProvider.ApnsId("order-42");
        Assert.Equal(derived, ApnsPushProvider.ApnsId("order-42"));
        Assert.NotEqual(derived, ApnsPushProvider.ApnsId("order-43"));
        Assert.Equal(8, Guid.Parse(derived).Version);
        Assert.Equal('8', derived[14]);
    }
}
