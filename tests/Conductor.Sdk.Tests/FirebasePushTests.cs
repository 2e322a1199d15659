using System.Buffers.Text;
using System.Collections.Concurrent;
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
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The firebase provider against one loopback server that plays both Google's OAuth token endpoint (verifying the
/// service account's RS256 assertion with the test key) and the FCM v1 API (checking path, bearer token and JSON).
/// </summary>
public sealed class FirebasePushTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);
    private static readonly RSA Key = RSA.Create(2048);
    private const string Project = "demo-project";
    private const string ClientEmail = "conductor@demo-project.iam.gserviceaccount.com";
    private const string Token = "fcm-registration-token-1";

    /// <summary>One FCM answer.</summary>
    private sealed record Answer(int Status, string? Json = null, params (string Name, string Value)[] Headers);

    private sealed class FakeGoogle : IAsyncDisposable
    {
        private readonly Receiver _server;
        private int _tokens;
        private int _sends;

        private FakeGoogle(Receiver server) => _server = server;

        public ConcurrentQueue<ReceivedRequest> Sends { get; } = new();
        public ConcurrentQueue<string> AssertionErrors { get; } = new();
        public int TokensIssued => Volatile.Read(ref _tokens);
        public Uri BaseAddress => _server.BaseAddress;

        public static async Task<FakeGoogle> StartAsync(params Answer[] answers)
        {
            FakeGoogle? self = null;
            var server = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async context =>
            {
                var request = await Receiver.ReadAsync(context);
                context.Response.ContentType = "application/json";
                if (request.Path == "/token")
                {
                    var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body));
                    var problem = CheckAssertion(form, self!.BaseAddress);
                    if (problem is not null)
                    {
                        self.AssertionErrors.Enqueue(problem);
                        context.Response.StatusCode = 400;
                        await context.Response.WriteAsync("""{"error":"invalid_grant","error_description":"Invalid JWT Signature."}""");
                        return;
                    }

                    var n = Interlocked.Increment(ref self._tokens);
                    await context.Response.WriteAsync($$"""{"access_token":"ya29.test-{{n}}","expires_in":3599,"token_type":"Bearer"}""");
                    return;
                }

                self!.Sends.Enqueue(request);
                var answer = answers.Length == 0 ? new Answer(200) : answers[Math.Min(Interlocked.Increment(ref self._sends) - 1, answers.Length - 1)];
                context.Response.StatusCode = answer.Status;
                foreach (var (name, value) in answer.Headers) context.Response.Headers[name] = value;
                await context.Response.WriteAsync(answer.Json ?? $$"""{"name":"projects/{{Project}}/messages/0:1705314600000000%1"}""");
            }));
            self = new FakeGoogle(server);
            return self;
        }

        /// <summary>What Google checks: the grant type, the RS256 signature with the account's public key, and the claims.</summary>
        private static string? CheckAssertion(Dictionary<string, Microsoft.Extensions.Primitives.StringValues> form, Uri baseAddress)
        {
            if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer") return "grant_type " + form["grant_type"];
            var parts = form["assertion"].ToString().Split('.');
            if (parts.Length != 3) return "not a JWT";
            using var verifier = RSA.Create();
            verifier.ImportSubjectPublicKeyInfo(Key.ExportSubjectPublicKeyInfo(), out _);
            if (!verifier.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url.DecodeFromChars(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
            {
                return "signature";
            }

            var header = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[0]));
            if (header != """{"alg":"RS256","typ":"JWT","kid":"key-1"}""") return "header " + header;
            using var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            var c = claims.RootElement;
            var iat = c.GetProperty("iat").GetInt64();
            if (c.GetProperty("iss").GetString() != ClientEmail) return "iss";
            if (c.GetProperty("scope").GetString() != "https://www.googleapis.com/auth/firebase.messaging") return "scope";
            if (c.GetProperty("aud").GetString() != new Uri(baseAddress, "/token").AbsoluteUri) return "aud " + c.GetProperty("aud").GetString();
            if (c.GetProperty("exp").GetInt64() != iat + 3600) return "exp";
            return null;
        }

        public ValueTask DisposeAsync() => _server.DisposeAsync();
    }

    private static string ServiceAccount(Uri tokenServer) => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["type"] = "service_account",
        ["project_id"] = Project,
        ["private_key_id"] = "key-1",
        ["private_key"] = Key.ExportPkcs8PrivateKeyPem(),
        ["client_email"] = ClientEmail,
        ["token_uri"] = new Uri(tokenServer, "/token").AbsoluteUri,
    }, FirebaseTestJson.Default.DictionaryStringString);

    private static CompiledTemplate Text(string value) => new(value, (in TemplateContext _) => value);

    private static PushNotificationDefinition Rich(string kind = "token", string target = Token) => new("orders", 0, new[] { EventNames.ExecutionCompleted }, "firebase",
        new Dictionary<string, CompiledTemplate> { [kind] = Text(target) },
        Text("Order Shipped!"),
        new CompiledTemplate("Run ${event}", (in TemplateContext c) => "Run " + c.Event),
        Text("https://cdn.example.com/box.png"),
        new Dictionary<string, CompiledTemplate> { ["orderId"] = Text("A-1001") },
        new[] { (Text("track"), Text("Track")), (Text("open"), Text("Open")) });

    private static (ServiceProvider Provider, FakeTimeProvider Time, RecordingTokenHook Hook) Build(FakeGoogle google, PushNotificationDefinition? notification = null, Action<IServiceCollection>? configure = null)
    {
        var time = new FakeTimeProvider(At);
        var hook = new RecordingTokenHook();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IPushTokenInvalidated>(hook);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddFirebasePush(o =>
            {
                o.ServiceAccountJson = ServiceAccount(google.BaseAddress);
                o.BaseAddress = google.BaseAddress;
            })
            .AddNotification(notification ?? Rich());
        configure?.Invoke(services);
        return (services.BuildServiceProvider(), time, hook);
    }

    private static async Task<string> DispatchAsync(ServiceProvider provider, FakeTimeProvider time)
    {
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionCompleted(time.GetUtcNow(), "orders", "exec-1", null, 5))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        return id;
    }

    private static async Task<DeliveryRecord> RecordAsync(ServiceProvider provider, string id) =>
        (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;

    [Fact]
    public async Task A_rich_message_is_sent_to_fcm_v1_with_the_exact_json_and_a_bearer_token_from_the_service_account()
    {
        await using var google = await FakeGoogle.StartAsync();
        var (provider, time, _) = Build(google);
        await using var _ = provider;

        var id = await DispatchAsync(provider, time);

        Assert.Empty(google.AssertionErrors);
        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Delivered, 1, 200), (record.Status, record.Attempts, record.LastStatusCode));
        var request = Assert.Single(google.Sends);
        Assert.Equal(("POST", $"/v1/projects/{Project}/messages:send"), (request.Method, request.Path));
        Assert.Equal("Bearer ya29.test-1", request.Header("Authorization"));
        Assert.Equal("application/json; charset=utf-8", request.Header("Content-Type"));
        Assert.Equal(
            """{"message":{"token":"fcm-registration-token-1","notification":{"title":"Order Shipped!","body":"Run execution.completed","image":"https://cdn.example.com/box.png"},"data":{"orderId":"A-1001"},"android":{"notification":{"image":"https://cdn.example.com/box.png","click_action":"track"}},"apns":{"payload":{"aps":{"mutable-content":1,"category":"track"}},"fcm_options":{"image":"https://cdn.example.com/box.png"}},"webpush":{"notification":{"image":"https://cdn.example.com/box.png","actions":[{"action":"track","title":"Track"},{"action":"open","title":"Open"}]}}}}""",
            Encoding.UTF8.GetString(request.Body));
    }

    [Fact]
    public async Task A_plain_topic_message_has_no_overrides_and_the_topics_prefix_is_dropped()
    {
        await using var google = await FakeGoogle.StartAsync();
        var plain = new PushNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, "firebase",
            new Dictionary<string, CompiledTemplate> { ["topic"] = Text("/topics/user-42") }, null, Text("Your order is on its way."), null,
            new Dictionary<string, CompiledTemplate>(), Array.Empty<(CompiledTemplate, CompiledTemplate)>());
        var (provider, time, _) = Build(google, plain);
        await using var _ = provider;

        await DispatchAsync(provider, time);

        Assert.Equal("""{"message":{"topic":"user-42","notification":{"body":"Your order is on its way."}}}""", Encoding.UTF8.GetString(Assert.Single(google.Sends).Body));
    }

    [Fact]
    public async Task The_access_token_is_fetched_once_and_refreshed_when_the_clock_nears_its_expiry()
    {
        await using var google = await FakeGoogle.StartAsync();
        var (provider, time, _) = Build(google);
        await using var _ = provider;

        await DispatchAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(50));
        await DispatchAsync(provider, time);
        Assert.Equal(1, google.TokensIssued);
        // expires_in 3599 s: reused until 5 minutes before it ends (54:59), then replaced.
        time.Advance(TimeSpan.FromMinutes(5));
        await DispatchAsync(provider, time);

        Assert.Equal(2, google.TokensIssued);
        Assert.Equal(new[] { "Bearer ya29.test-1", "Bearer ya29.test-1", "Bearer ya29.test-2" }, google.Sends.Select(r => r.Header("Authorization")));
        Assert.Empty(google.AssertionErrors);
    }

    [Fact]
    public async Task Concurrent_first_sends_share_one_token_exchange()
    {
        await using var google = await FakeGoogle.StartAsync();
        var (provider, time, _) = Build(google);
        await using var _ = provider;
        var dispatcher = provider.GetRequiredService<NotificationDispatcher>();
        for (var i = 0; i < 5; i++) await dispatcher.DispatchAsync(new ExecutionCompleted(time.GetUtcNow(), "orders", "exec-" + i, null, 5));

        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        Assert.Equal(5, google.Sends.Count);
        Assert.Equal(1, google.TokensIssued);
        Assert.All(google.Sends, r => Assert.Equal("Bearer ya29.test-1", r.Header("Authorization")));
    }

    [Fact]
    public async Task A_401_drops_the_cached_token_and_the_attempt_succeeds_with_a_new_one()
    {
        await using var google = await FakeGoogle.StartAsync(
            new Answer(401, """{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"""),
            new Answer(200));
        var (provider, time, _) = Build(google);
        await using var _ = provider;

        var id = await DispatchAsync(provider, time);

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Delivered, 1), (record.Status, record.Attempts));
        Assert.Equal(new[] { "Bearer ya29.test-1", "Bearer ya29.test-2" }, google.Sends.Select(r => r.Header("Authorization")));
    }

    [Fact]
    public async Task An_unregistered_token_calls_the_hook_once_and_is_dead_lettered_without_retry()
    {
        await using var google = await FakeGoogle.StartAsync(new Answer(404,
            """{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"""));
        var (provider, time, hook) = Build(google);
        await using var _ = provider;

        var id = await DispatchAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(10));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.DeadLettered, 1, AttemptErrorKind.InvalidRecipient), (record.Status, record.Attempts, record.LastErrorKind));
        Assert.Single(google.Sends);
        var call = Assert.Single(hook.Calls);
        Assert.Equal(("firebase", new PushTarget("token", Token), "orders", 0, id), (call.Provider, call.Target, call.Ensemble, call.NotificationIndex, call.DeliveryId));
        Assert.Equal("UNREGISTERED (404): the token is no longer valid", call.Reason);
    }

    private sealed class ThrowingHook : IPushTokenInvalidated
    {
        public ValueTask OnTokenInvalidatedAsync(PushTokenInvalidation invalidation, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("database down");
    }

    [Fact]
    public async Task A_throwing_invalidation_hook_does_not_keep_a_dead_token_alive()
    {
        await using var google = await FakeGoogle.StartAsync(new Answer(404,
            """{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"""));
        var (provider, time, hook) = Build(google, configure: s => s.AddSingleton<IPushTokenInvalidated, ThrowingHook>());
        await using var _ = provider;

        var id = await DispatchAsync(provider, time);
        time.Advance(TimeSpan.FromMinutes(10));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.DeadLettered, 1), (record.Status, record.Attempts));
        Assert.Equal("UNREGISTERED (404): the token is no longer valid (IPushTokenInvalidated: ThrowingHook threw InvalidOperationException)", record.LastError);
        Assert.Single(hook.Calls);
        Assert.Single(google.Sends);
    }

    [Fact]
    public async Task An_invalid_registration_token_is_reported_but_another_invalid_argument_is_not()
    {
        const string BadToken = """{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}""";
        const string BadData = """{"error":{"code":400,"message":"Invalid value at 'message.data[0].value'","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}""";
        await using var google = await FakeGoogle.StartAsync(new Answer(400, BadToken), new Answer(400, BadData));
        var (provider, time, hook) = Build(google);
        await using var _ = provider;

        var first = await RecordAsync(provider, await DispatchAsync(provider, time));
        var second = await RecordAsync(provider, await DispatchAsync(provider, time));

        Assert.Equal((DeliveryStatus.DeadLettered, AttemptErrorKind.InvalidRecipient), (first.Status, first.LastErrorKind));
        Assert.Equal((DeliveryStatus.DeadLettered, AttemptErrorKind.Provider), (second.Status, second.LastErrorKind));
        Assert.Equal("INVALID_ARGUMENT (400): The registration token is not a valid FCM registration token", Assert.Single(hook.Calls).Reason);
    }

    [Fact]
    public async Task Quota_exceeded_with_retry_after_is_retried_at_that_time()
    {
        await using var google = await FakeGoogle.StartAsync(
            new Answer(429, """{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}}""", ("Retry-After", "120")),
            new Answer(200));
        var (provider, time, hook) = Build(google);
        await using var _ = provider;
        var processor = provider.GetRequiredService<DeliveryProcessor>();

        var id = await DispatchAsync(provider, time);
        var first = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Pending, At + TimeSpan.FromSeconds(120)), (first.Status, first.DueAt));
        Assert.Contains("QUOTA_EXCEEDED", first.LastError);
        time.Advance(TimeSpan.FromSeconds(119));
        await processor.RunDueAsync();
        Assert.Single(google.Sends);
        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();

        Assert.Equal((DeliveryStatus.Delivered, 2), ((await RecordAsync(provider, id)).Status, (await RecordAsync(provider, id)).Attempts));
        Assert.Empty(hook.Calls);
    }

    [Fact]
    public async Task A_sender_id_mismatch_is_permanent_with_a_hint_and_not_an_invalid_token()
    {
        await using var google = await FakeGoogle.StartAsync(new Answer(403,
            """{"error":{"code":403,"message":"SenderId mismatch","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"SENDER_ID_MISMATCH"}]}}"""));
        var (provider, time, hook) = Build(google);
        await using var _ = provider;

        var record = await RecordAsync(provider, await DispatchAsync(provider, time));

        Assert.Equal((DeliveryStatus.DeadLettered, 1, AttemptErrorKind.Provider), (record.Status, record.Attempts, record.LastErrorKind));
        Assert.Equal("firebase: HTTP 403 SENDER_ID_MISMATCH SenderId mismatch; the token belongs to another Firebase project than the service account's", record.LastError);
        Assert.Empty(hook.Calls);
    }

    /// <summary>The order-shipped flow's only agent.</summary>
    public sealed class Ship : Conductor.Sdk.Tests.Ensembles.OrderShippedEnsemble.IShipAgent
    {
        public ValueTask<Conductor.Sdk.Tests.Ensembles.OrderShippedEnsemble.ShipOutput> RunAsync(Conductor.Sdk.Tests.Ensembles.OrderShippedEnsemble.Input input, Conductor.Sdk.Runner.AgentContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Conductor.Sdk.Tests.Ensembles.OrderShippedEnsemble.ShipOutput { Carrier = "ups" });
    }

    [Fact]
    public async Task The_product_descriptions_push_yaml_runs_end_to_end_with_the_input_of_the_run()
    {
        await using var google = await FakeGoogle.StartAsync();
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddOrderShipped(agents => agents.Ship<Ship>())
            .AddFirebasePush(o =>
            {
                o.ServiceAccountJson = ServiceAccount(google.BaseAddress);
                o.BaseAddress = google.BaseAddress;
            });
        await using var provider = services.BuildServiceProvider();

        var result = await provider.GetRequiredService<Conductor.Sdk.Tests.Ensembles.OrderShippedEnsemble>()
            .RunAsync(new Conductor.Sdk.Tests.Ensembles.OrderShippedEnsemble.Input { UserId = "user-42", OrderId = "A-1001" });
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();

        Assert.Equal(Conductor.Sdk.Runner.ExecutionStatus.Completed, result.Status);
        Assert.Equal(
            """{"message":{"topic":"user-42","notification":{"title":"Order Shipped!","body":"Your order #A-1001 is on its way."}}}""",
            Encoding.UTF8.GetString(Assert.Single(google.Sends).Body));
    }

    [Fact]
    public async Task A_host_with_an_unusable_service_account_fails_at_start_without_showing_the_key()
    {
        var pem = Key.ExportPkcs8PrivateKeyPem();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddConductor().UseInMemoryStore().AddFirebasePush(o => o.ServiceAccountJson = $$"""{"project_id":"p","private_key":{{JsonSerializer.Serialize(pem[..200], FirebaseTestJson.Default.String)}}}""");
        using var host = builder.Build();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.Contains("has no client_email", error.Message);
        Assert.DoesNotContain(pem[40..120], error.Message);
    }
}

/// <summary>Source-generated JSON for the test's service-account file (reflection is disabled in this project).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class FirebaseTestJson : System.Text.Json.Serialization.JsonSerializerContext;
