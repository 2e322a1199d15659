using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Push;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The webpush provider against a loopback push service that checks the headers, verifies the VAPID JWT and decrypts
/// the aes128gcm body itself (RFC 8291, written here from the RFC, and proven on the RFC's own example).
/// </summary>
public sealed class WebPushTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);
    private const string Subject = "mailto:ops@example.com";
    private const string Token = "gAAAAABmXk3vR9s1x2QpLw7";
    private const string EndpointPath = "/wpush/v2/" + Token;

    /// <summary>A browser's side of a subscription: its ECDH key pair and auth secret.</summary>
    private sealed class Browser : IDisposable
    {
        public ECDiffieHellman Key { get; } = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        public byte[] Auth { get; } = RandomNumberGenerator.GetBytes(16);
        public byte[] PublicPoint => Point(Key.ExportParameters(false).Q);

        public string SubscriptionJson(Uri endpoint) =>
            $$$"""{"endpoint":"{{{endpoint.AbsoluteUri}}}","expirationTime":null,"keys":{"p256dh":"{{{B64(PublicPoint)}}}","auth":"{{{B64(Auth)}}}"}}""";

        public void Dispose() => Key.Dispose();
    }

    /// <summary>The application server's VAPID key pair.</summary>
    private sealed class Vapid : IDisposable
    {
        public ECDsa Key { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        public string PublicKey => B64(Point(Key.ExportParameters(false).Q));
        public string PrivateKey => B64(Key.ExportParameters(true).D!);
        public void Dispose() => Key.Dispose();
    }

    private sealed record ServiceReply(int Status, string Body = "", params (string Name, string Value)[] Headers);

    /// <summary>A push service on loopback: records each request and answers from the script (the last reply repeats).</summary>
    private static async Task<Receiver> StartPushServiceAsync(params ServiceReply[] replies)
    {
        Receiver? self = null;
        var server = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => app.Run(async context =>
        {
            var request = await Receiver.ReadAsync(context);
            var n = self!.Count;
            self.Record(request);
            var reply = replies[Math.Min(n, replies.Length - 1)];
            context.Response.StatusCode = reply.Status;
            foreach (var (name, value) in reply.Headers) context.Response.Headers[name] = value;
            if (reply.Body.Length > 0) await context.Response.WriteAsync(reply.Body);
        }));
        self = server;
        return server;
    }

    private static (ServiceProvider Provider, FakeTimeProvider Time, RecordingTokenHook Hook) Build(string subscription, Vapid vapid, Action<WebPushOptions>? adjust = null)
    {
        var time = new FakeTimeProvider(At);
        var hook = new RecordingTokenHook();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IPushTokenInvalidated>(hook);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddWebPush(o =>
            {
                o.VapidSubject = Subject;
                o.VapidPublicKey = vapid.PublicKey;
                o.VapidPrivateKey = vapid.PrivateKey;
                o.DefaultTimeToLive = TimeSpan.FromHours(1);
                o.Urgency = WebPushUrgency.High;
                adjust?.Invoke(o);
            })
            .AddNotification(new PushNotificationDefinition("shop", 0, new[] { EventNames.ExecutionFailed }, "webpush",
                new Dictionary<string, CompiledTemplate> { ["subscription"] = new("${input.subscription}", (in TemplateContext _) => subscription) },
                new CompiledTemplate("[${event}] ${ensemble.name}", (in TemplateContext c) => $"[{c.Event}] {c.Ensemble}"),
                new CompiledTemplate("Café order \"A-17\" failed", (in TemplateContext _) => "Café order \"A-17\" failed"),
                new CompiledTemplate("https://shop.example/img/a17.png", (in TemplateContext _) => "https://shop.example/img/a17.png"),
                new Dictionary<string, CompiledTemplate>
                {
                    ["orderId"] = new("A-17", (in TemplateContext _) => "A-17"),
                    ["url"] = new("https://shop.example/orders/A-17", (in TemplateContext _) => "https://shop.example/orders/A-17"),
                },
                new[]
                {
                    (new CompiledTemplate("open", (in TemplateContext _) => "open"), new CompiledTemplate("Open order", (in TemplateContext _) => "Open order")),
                }));
        return (services.BuildServiceProvider(), time, hook);
    }

    private static async Task<DeliveryRecord> SendAsync(ServiceProvider provider, FakeTimeProvider time)
    {
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "shop", "exec-1", new ErrorInfo("down", "T"), 1))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        return (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;
    }

    private static Task<DeliveryRecord?> ReloadAsync(ServiceProvider provider, string id) => provider.GetRequiredService<IDeliveryStore>().GetAsync(id).AsTask();

    [Fact]
    public async Task The_push_service_gets_an_aes128gcm_body_it_can_decrypt_and_a_VAPID_token_for_its_origin()
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(201));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var (provider, time, hook) = Build(browser.SubscriptionJson(new Uri(server.BaseAddress, EndpointPath)), vapid);
        await using var _ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Delivered, 1), (record.Status, record.Attempts));
        Assert.Empty(hook.Calls);
        var request = Assert.Single(server.Requests);
        Assert.Equal(("POST", EndpointPath), (request.Method, request.Path));
        Assert.Equal("aes128gcm", request.Header("Content-Encoding"));
        Assert.Equal("application/octet-stream", request.Header("Content-Type"));
        Assert.Equal("3600", request.Header("TTL"));
        Assert.Equal("high", request.Header("Urgency"));

        var claims = VerifyVapid(request.Header("Authorization"), vapid);
        Assert.Equal(server.BaseAddress.GetLeftPart(UriPartial.Authority), claims.GetProperty("aud").GetString());
        Assert.Equal(Subject, claims.GetProperty("sub").GetString());
        // exp comes from the injected clock, 12 hours ahead of it.
        Assert.Equal((At + TimeSpan.FromHours(12)).ToUnixTimeSeconds(), claims.GetProperty("exp").GetInt64());

        var payload = Encoding.UTF8.GetString(Rfc8291.Decrypt(request.Body, browser.Key, browser.Auth));
        Assert.Equal(
            """{"title":"[execution.failed] shop","body":"Café order \"A-17\" failed","image":"https://shop.example/img/a17.png","data":{"orderId":"A-17","url":"https://shop.example/orders/A-17"},"actions":[{"action":"open","title":"Open order"}],"event":"execution.failed"}""",
            payload);
    }

    [Fact]
    public void The_test_decryptor_reproduces_the_RFC_8291_example()
    {
        // RFC 8291 section 5 (intermediate values in appendix A): user agent keys, auth secret and the encrypted body.
        var uaPublic = B64Decode("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        using var ua = ECDiffieHellman.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            D = B64Decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"),
            Q = new ECPoint { X = uaPublic[1..33], Y = uaPublic[33..] },
        });
        var auth = B64Decode("BTBZMqHH6r4Tts7J_aSIgg");
        var body = B64Decode("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");

        Assert.Equal("When I grow up, I want to be a watermelon", Encoding.UTF8.GetString(Rfc8291.Decrypt(body, ua, auth)));
        Assert.Equal("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8", B64(body[21..86]));

        // The check is real: one flipped ciphertext bit, or the wrong auth secret, fails authentication.
        var tampered = body.ToArray();
        tampered[^20] ^= 0x01;
        Assert.ThrowsAny<CryptographicException>(() => Rfc8291.Decrypt(tampered, ua, auth));
        Assert.ThrowsAny<CryptographicException>(() => Rfc8291.Decrypt(body, ua, new byte[16]));
    }

    [Fact]
    public async Task Gone_calls_the_invalidation_hook_once_and_dead_letters_after_one_attempt()
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(410, $"push subscription {Token} has unsubscribed or expired.\n"));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var subscription = browser.SubscriptionJson(new Uri(server.BaseAddress, EndpointPath));
        var (provider, time, hook) = Build(subscription, vapid);
        await using var _ = provider;

        var record = await SendAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(10));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        record = (await ReloadAsync(provider, record.Id))!;

        Assert.Equal((DeliveryStatus.DeadLettered, 1, 410, AttemptErrorKind.InvalidRecipient), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));
        Assert.Equal(1, server.Count);
        var call = Assert.Single(hook.Calls);
        Assert.Equal(new PushTokenInvalidation("webpush", new PushTarget("subscription", subscription), "shop", 0, record.Id,
            "webpush: HTTP 410 Gone: push subscription <subscription token> has unsubscribed or expired."), call);
        Assert.Equal(call.Reason, record.LastError);
        foreach (var secret in new[] { Token, B64(browser.PublicPoint), B64(browser.Auth), vapid.PrivateKey })
        {
            Assert.DoesNotContain(secret, record.LastError);
        }
    }

    [Fact]
    public async Task Too_many_requests_is_retried_at_the_time_Retry_After_names()
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(429, "", ("Retry-After", "120")), new ServiceReply(201));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var (provider, time, hook) = Build(browser.SubscriptionJson(new Uri(server.BaseAddress, EndpointPath)), vapid);
        await using var _ = provider;
        var processor = provider.GetRequiredService<DeliveryProcessor>();

        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Pending, 1, 429, At + TimeSpan.FromSeconds(120)), (record.Status, record.Attempts, record.LastStatusCode, record.DueAt));
        Assert.Equal("webpush: HTTP 429 Too Many Requests", record.LastError);

        time.Advance(TimeSpan.FromSeconds(119));
        await processor.RunDueAsync();
        Assert.Equal(1, server.Count);

        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();
        record = (await ReloadAsync(provider, record.Id))!;
        Assert.Equal((DeliveryStatus.Delivered, 2), (record.Status, record.Attempts));
        Assert.Equal(2, server.Count);
        Assert.Empty(hook.Calls);
        // The second request reuses the token issued for this origin two minutes earlier.
        Assert.Equal(server.Requests[0].Header("Authorization"), server.Requests[1].Header("Authorization"));
    }

    [Theory]
    [InlineData(404, DeliveryStatus.DeadLettered, AttemptErrorKind.InvalidRecipient, 1, "webpush: HTTP 404 Not Found")]
    [InlineData(403, DeliveryStatus.DeadLettered, AttemptErrorKind.Provider, 0, "webpush: HTTP 403 Forbidden (the push service refused the VAPID signature")]
    [InlineData(413, DeliveryStatus.DeadLettered, AttemptErrorKind.Provider, 0, "webpush: HTTP 413 Payload Too Large (the push service refused the payload size")]
    [InlineData(400, DeliveryStatus.DeadLettered, AttemptErrorKind.Provider, 0, "webpush: HTTP 400 Bad Request (the push service rejected the request as malformed)")]
    [InlineData(503, DeliveryStatus.Pending, AttemptErrorKind.Provider, 0, "webpush: HTTP 503 Service Unavailable")]
    public async Task Statuses_map_to_invalid_recipient_permanent_or_retry(int status, DeliveryStatus expected, AttemptErrorKind kind, int hookCalls, string error)
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(status));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var (provider, time, hook) = Build(browser.SubscriptionJson(new Uri(server.BaseAddress, EndpointPath)), vapid);
        await using var _ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((expected, 1, status, kind), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));
        Assert.StartsWith(error, record.LastError);
        Assert.Equal(hookCalls, hook.Calls.Count);
    }

    [Fact]
    public async Task A_JSON_error_body_gives_its_message_with_the_endpoint_masked()
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(404,
            $$$"""{"code":404,"errno":102,"message":"No such subscription: {{{EndpointPath}}}?v=2"}"""));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var (provider, time, hook) = Build(browser.SubscriptionJson(new Uri(server.BaseAddress, EndpointPath)), vapid);
        await using var _ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal("webpush: HTTP 404 Not Found: No such subscription: /wpush/v2/<subscription token>?v=2", record.LastError);
        Assert.Equal(record.LastError, Assert.Single(hook.Calls).Reason);
    }

    [Fact]
    public async Task Endpoints_go_through_the_SSRF_guard()
    {
        using var browser = new Browser();
        using var vapid = new Vapid();
        var (provider, time, hook) = Build(browser.SubscriptionJson(new Uri("https://10.20.30.40" + EndpointPath)), vapid);
        await using var _ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.DeadLettered, 1, AttemptErrorKind.DestinationRefused), (record.Status, record.Attempts, record.LastErrorKind));
        Assert.StartsWith("webpush: ", record.LastError);
        Assert.Contains("10.20.30.40", record.LastError);
        Assert.DoesNotContain(Token, record.LastError);
        Assert.Empty(hook.Calls);
    }

    [Theory]
    [InlineData("{\"endpoint\":", "the rendered value is not JSON")]
    [InlineData("[\"https://push.example.net/x\"]", "the rendered value is a JSON array, not the subscription object")]
    [InlineData("{\"endpoint\":\"ftp://push.example.net/x\",\"keys\":{}}", "'endpoint' must be an absolute https: URL")]
    [InlineData("{\"endpoint\":\"https://push.example.net/x\"}", "'keys' is missing or not an object")]
    [InlineData("{\"endpoint\":\"https://push.example.net/x\",\"keys\":{\"p256dh\":\"BAAA\",\"auth\":\"AAAAAAAAAAAAAAAAAAAAAA\"}}", "'keys.p256dh' must be an uncompressed P-256 point (65 bytes starting with 0x04), found 3 bytes")]
    [InlineData("{\"endpoint\":\"https://push.example.net/x\",\"keys\":{\"p256dh\":\"P256\",\"auth\":\"c2hvcnQ\"}}", "'keys.p256dh' must be an uncompressed P-256 point")]
    public async Task A_malformed_subscription_names_the_notification_and_field_and_sends_nothing(string subscription, string problem)
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(201));
        using var vapid = new Vapid();
        var (provider, time, hook) = Build(subscription, vapid);
        await using var _ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.DeadLettered, 1, AttemptErrorKind.Provider), (record.Status, record.Attempts, record.LastErrorKind));
        Assert.StartsWith($"ensemble 'shop', push notification #1, field 'subscription': {problem}", record.LastError);
        Assert.Equal(0, server.Count);
        Assert.Empty(hook.Calls);
    }

    [Fact]
    public async Task A_wrong_auth_secret_length_is_reported_without_the_key()
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(201));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var p256dh = B64(browser.PublicPoint);
        var (provider, time, _) = Build($$$"""{"endpoint":"https://push.example.net/x","keys":{"p256dh":"{{{p256dh}}}","auth":"c2hvcnQ"}}""", vapid);
        await using var __ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal("ensemble 'shop', push notification #1, field 'subscription': 'keys.auth' must be a 16-byte secret, found 5 bytes; render the browser's PushSubscription.toJSON(), {\"endpoint\":\"https://…\",\"keys\":{\"p256dh\":\"…\",\"auth\":\"…\"}}", record.LastError);
        Assert.DoesNotContain(p256dh, record.LastError);
    }

    [Fact]
    public void Startup_validation_rejects_a_mismatched_key_pair_and_a_bad_subject_without_quoting_keys()
    {
        using var vapid = new Vapid();
        using var other = new Vapid();
        var (provider, _, _) = Build("{}", vapid, o =>
        {
            o.VapidSubject = "ops@example.com";
            o.VapidPrivateKey = other.PrivateKey;
        });
        using var _ = provider;

        // What the host runs at start (ValidateOnStart), before any delivery is attempted.
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("WebPush:VapidSubject 'ops@example.com' must start with 'mailto:' or be an absolute https: URL.", error.Message);
        Assert.Contains("WebPush:VapidPrivateKey does not belong to VapidPublicKey; set both from the same generated key pair.", error.Message);
        Assert.DoesNotContain(other.PrivateKey, error.Message);
        Assert.DoesNotContain(vapid.PublicKey, error.Message);
    }

    [Fact]
    public async Task A_payload_at_the_Web_Push_limit_fills_one_4096_byte_record_and_one_byte_more_is_refused()
    {
        await using var server = await StartPushServiceAsync(new ServiceReply(201));
        using var browser = new Browser();
        using var vapid = new Vapid();
        var (provider, _, _) = Build("{}", vapid);
        await using var _ = provider;
        var webPush = provider.GetServices<IPushProvider>().Single(p => p.Name == "webpush");
        // {"title":"t","body":"…","data":{},"actions":[],"event":"execution.failed"} is 73 bytes around the body.
        PushMessage Message(int bodyLength) => new("execution.failed", "ensemble 'shop', push notification #1",
            new PushTarget("subscription", browser.SubscriptionJson(new Uri(server.BaseAddress, EndpointPath))),
            "t", new string('x', bodyLength), null, new Dictionary<string, string>(), Array.Empty<PushMessageAction>());

        var atLimit = await webPush.SendAsync(Message(WebPushProvider.MaxPayloadBytes - 73), "dlv_1", CancellationToken.None);
        var over = await webPush.SendAsync(Message(WebPushProvider.MaxPayloadBytes - 72), "dlv_2", CancellationToken.None);

        Assert.Equal(AttemptOutcome.Delivered, atLimit.Outcome);
        var request = Assert.Single(server.Requests);
        Assert.Equal(4096, request.Body.Length);
        Assert.Equal(WebPushProvider.MaxPayloadBytes, Rfc8291.Decrypt(request.Body, browser.Key, browser.Auth).Length);
        Assert.Equal((AttemptOutcome.Permanent, AttemptErrorKind.Provider), (over.Outcome, over.ErrorKind));
        Assert.Equal("ensemble 'shop', push notification #1: the webpush payload is 3994 bytes, more than the 3993 push services must accept; shorten the title, body or data", over.Error);
    }

    /// <summary>Checks the <c>vapid t=…, k=…</c> header (RFC 8292) and returns the verified JWT claims.</summary>
    private static JsonElement VerifyVapid(string authorization, Vapid vapid)
    {
        Assert.StartsWith("vapid ", authorization);
        var parameters = authorization["vapid ".Length..].Split(',', StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal(vapid.PublicKey, parameters["k"]);
        var jwt = parameters["t"].Split('.');
        Assert.Equal(3, jwt.Length);
        using (var header = JsonDocument.Parse(B64Decode(jwt[0])))
        {
            Assert.Equal(("JWT", "ES256"), (header.RootElement.GetProperty("typ").GetString(), header.RootElement.GetProperty("alg").GetString()));
        }

        // Verified with the key from the k= parameter, which the assertion above tied to the configured key pair.
        var k = B64Decode(parameters["k"]);
        using var verifier = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = k[1..33], Y = k[33..] } });
        Assert.True(verifier.VerifyData(Encoding.ASCII.GetBytes(jwt[0] + "." + jwt[1]), B64Decode(jwt[2]), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
            "the VAPID JWT signature does not verify with the VAPID public key");
        using var claims = JsonDocument.Parse(B64Decode(jwt[1]));
        return claims.RootElement.Clone();
    }

    private static byte[] Point(ECPoint q) => [0x04, .. q.X!, .. q.Y!];

    private static string B64(ReadOnlySpan<byte> bytes) => Base64Url.EncodeToString(bytes);

    private static byte[] B64Decode(string text) => Base64Url.DecodeFromChars(text);

    /// <summary>The user agent's side of RFC 8291 (with RFC 8188 aes128gcm), for one-record messages.</summary>
    private static class Rfc8291
    {
        public static byte[] Decrypt(byte[] body, ECDiffieHellman userAgent, byte[] authSecret)
        {
            // RFC 8188 header: salt (16) | rs (uint32) | idlen (1) | keyid (idlen) — for Web Push the keyid is the
            // application server's ephemeral public key.
            var salt = body[..16];
            var recordSize = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(16, 4));
            int idLength = body[20];
            Assert.Equal(65, idLength);
            var serverPublic = body[21..(21 + idLength)];
            var record = body[(21 + idLength)..];
            Assert.InRange(recordSize, 18u, uint.MaxValue);
            Assert.InRange((uint)record.Length, 17u, recordSize); // Web Push allows exactly one record

            using var server = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = serverPublic[1..33], Y = serverPublic[33..] },
            });
            var sharedSecret = userAgent.DeriveRawSecretAgreement(server.PublicKey);
            var userAgentPublic = Point(userAgent.ExportParameters(false).Q);

            // IKM = HKDF(salt = auth_secret, ikm = ecdh_secret, info = "WebPush: info" 0x00 ua_public as_public, L = 32)
            byte[] keyInfo = [.. "WebPush: info\0"u8, .. userAgentPublic, .. serverPublic];
            var ikm = HKDF.DeriveKey(HashAlgorithmName.SHA256, sharedSecret, 32, authSecret, keyInfo);
            // PRK = HKDF-Extract(salt, IKM); CEK and NONCE expand it with their RFC 8188 info strings.
            var prk = HKDF.Extract(HashAlgorithmName.SHA256, ikm, salt);
            var contentKey = HKDF.Expand(HashAlgorithmName.SHA256, prk, 16, "Content-Encoding: aes128gcm\0"u8.ToArray());
            var nonce = HKDF.Expand(HashAlgorithmName.SHA256, prk, 12, "Content-Encoding: nonce\0"u8.ToArray());

            var plaintext = new byte[record.Length - 16];
            using (var aes = new AesGcm(contentKey, 16))
            {
                aes.Decrypt(nonce, record[..^16], record[^16..], plaintext);
            }

            // content | 0x02 (delimiter of the last record) | zero padding
            var delimiter = Array.FindLastIndex(plaintext, b => b != 0);
            Assert.True(delimiter >= 0 && plaintext[delimiter] == 0x02, "the last record must end with the 0x02 padding delimiter");
            return plaintext[..delimiter];
        }
    }
}
