using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Twilio;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The Twilio provider: the official SDK pointed at a loopback Twilio API that checks the exact request and answers
/// with Twilio's message and error JSON.
/// </summary>
public sealed class TwilioTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);
    private const string AccountSid = "AC00000000000000000000000000000001";
    private const string AuthToken = "tw-auth-token-secret";
    private const string Sender = "+14155550111";
    private const string Recipient = "+14155550100";

    /// <summary>One scripted answer of the fake Twilio API.</summary>
    private sealed record TwilioReply(int Status, string? Json, params (string Name, string Value)[] Headers)
    {
        public static TwilioReply Created => new(201, null);

        /// <summary>No answer until the client gives up.</summary>
        public static TwilioReply Hang => new(0, null);

        public static TwilioReply Error(int status, int code, string message, params (string Name, string Value)[] headers) =>
            new(status, $$"""{"code":{{code}},"message":"{{message}}","more_info":"https://www.twilio.com/docs/errors/{{code}}","status":{{status}}}""", headers);
    }

    private sealed record TwilioRequest(ReceivedRequest Request, Dictionary<string, StringValues> Form);

    private static async Task<(Receiver Server, List<TwilioRequest> Requests)> StartTwilioAsync(params TwilioReply[] replies)
    {
        var requests = new List<TwilioRequest>();
        Receiver? self = null;
        var server = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async context =>
        {
            var request = await Receiver.ReadAsync(context);
            var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body));
            int n;
            lock (requests)
            {
                requests.Add(new TwilioRequest(request, form));
                n = requests.Count - 1;
            }

            self!.Record(request);
            var reply = replies[Math.Min(n, replies.Length - 1)];
            if (reply.Status == 0)
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            context.Response.StatusCode = reply.Status;
            foreach (var (name, value) in reply.Headers) context.Response.Headers[name] = value;
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(reply.Json ?? MessageJson(request, form));
        }));
        self = server;
        return (server, requests);
    }

    /// <summary>A Message resource as Twilio returns it on creation (status queued).</summary>
    private static string MessageJson(ReceivedRequest request, Dictionary<string, StringValues> form)
    {
        var segments = request.Path.Split('/');
        var account = segments[Array.IndexOf(segments, "Accounts") + 1];
        const string sid = "SM0123456789abcdef0123456789abcdef";
        var from = form.TryGetValue("From", out var f) ? $"\"{f}\"" : "null";
        var service = form.TryGetValue("MessagingServiceSid", out var s) ? $"\"{s}\"" : "null";
        return $$"""
            {"account_sid":"{{account}}","api_version":"2010-04-01","body":"{{System.Text.Json.JsonEncodedText.Encode(form["Body"].ToString())}}",
             "date_created":"Mon, 15 Jan 2024 10:30:00 +0000","date_sent":null,"date_updated":"Mon, 15 Jan 2024 10:30:00 +0000",
             "direction":"outbound-api","error_code":null,"error_message":null,"from":{{from}},"messaging_service_sid":{{service}},
             "num_media":"0","num_segments":"1","price":null,"price_unit":"USD","sid":"{{sid}}","status":"queued",
             "subresource_uris":{"media":"/2010-04-01/Accounts/{{account}}/Messages/{{sid}}/Media.json"},
             "to":"{{form["To"]}}","uri":"/2010-04-01/Accounts/{{account}}/Messages/{{sid}}.json"}
            """;
    }

    private static (ServiceProvider Provider, FakeTimeProvider Time) Build(Uri baseAddress, Action<TwilioSmsOptions>? configure = null, bool withFrom = true, bool allowLoopback = true)
    {
        var time = new FakeTimeProvider(At);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddConductor(o =>
            {
                if (allowLoopback) o.AllowedNetworks.Add("127.0.0.1/32");
            }).UseInMemoryStore()
            .AddTwilioSms(o =>
            {
                o.AccountSid = AccountSid;
                o.AuthToken = AuthToken;
                o.BaseAddress = baseAddress;
                configure?.Invoke(o);
            })
            .AddNotification(new SmsNotificationDefinition("health", 0, new[] { EventNames.ExecutionFailed }, "twilio",
                new[] { new CompiledTemplate(Recipient, (in TemplateContext _) => Recipient) },
                withFrom ? new CompiledTemplate(Sender, (in TemplateContext _) => Sender) : null,
                new CompiledTemplate("[${event}] ${ensemble.name}", (in TemplateContext c) => $"[{c.Event}] {c.Ensemble} + 100%")));
        return (services.BuildServiceProvider(), time);
    }

    private static async Task<DeliveryRecord> SendAsync(ServiceProvider provider, FakeTimeProvider time)
    {
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "health", "exec-1", new ErrorInfo("down", "T"), 1))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        return await RecordAsync(provider, id);
    }

    private static async Task<DeliveryRecord> RecordAsync(ServiceProvider provider, string id) =>
        (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public async Task The_sdk_sends_the_exact_request_to_the_configured_base_address_and_queued_is_delivered()
    {
        var (server, requests) = await StartTwilioAsync(TwilioReply.Created);
        await using var _ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var __ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Delivered, 1, 201), (record.Status, record.Attempts, record.LastStatusCode));
        var (request, form) = Assert.Single(requests);
        Assert.Equal(("POST", $"/2010-04-01/Accounts/{AccountSid}/Messages.json"), (request.Method, request.Path));
        Assert.Equal(Basic(AccountSid, AuthToken), request.Header("Authorization"));
        Assert.StartsWith("application/x-www-form-urlencoded", request.Header("Content-Type"));
        Assert.Contains("application/json", request.Header("Accept"));
        Assert.Contains("twilio-csharp/8.2.0", request.Header("User-Agent"));
        Assert.Equal(new[] { "Body", "From", "To" }, form.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((Recipient, Sender, "[execution.failed] health + 100%"), (form["To"].ToString(), form["From"].ToString(), form["Body"].ToString()));
    }

    [Fact]
    public async Task A_messaging_service_is_sent_instead_of_from_and_lets_a_notification_without_sender_through()
    {
        var (server, requests) = await StartTwilioAsync(TwilioReply.Created);
        await using var _ = server;
        var (provider, time) = Build(server.BaseAddress, o => o.MessagingServiceSid = "MG11111111111111111111111111111111", withFrom: false);
        await using var __ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal(DeliveryStatus.Delivered, record.Status);
        var form = Assert.Single(requests).Form;
        Assert.Equal(new[] { "Body", "MessagingServiceSid", "To" }, form.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("MG11111111111111111111111111111111", form["MessagingServiceSid"].ToString());
    }

    [Fact]
    public async Task Without_a_messaging_service_or_default_sender_the_channel_still_refuses_a_missing_from()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Created);
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress, withFrom: false);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.StartsWith("ensemble 'health', sms notification #1, field 'from': no sender", record.LastError);
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public async Task The_default_from_of_the_options_is_used_when_the_notification_has_none()
    {
        var (server, requests) = await StartTwilioAsync(TwilioReply.Created);
        await using var _ = server;
        var (provider, time) = Build(server.BaseAddress, o => o.From = "+14155550199", withFrom: false);
        await using var __ = provider;

        Assert.Equal(DeliveryStatus.Delivered, (await SendAsync(provider, time)).Status);
        Assert.Equal("+14155550199", Assert.Single(requests).Form["From"].ToString());
    }

    [Fact]
    public async Task Error_20429_with_http_429_is_retried_after_the_retry_after_wait_and_then_delivered()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Error(429, 20429, "Too Many Requests", ("Retry-After", "30")), TwilioReply.Created);
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Pending, 1, 429, AttemptErrorKind.Provider), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));
        Assert.Equal(At + TimeSpan.FromSeconds(30), record.DueAt);
        Assert.StartsWith("twilio: error 20429 (HTTP 429): Too Many Requests", record.LastError);
        time.Advance(TimeSpan.FromSeconds(29));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(1, server.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal((DeliveryStatus.Delivered, 2), ((await RecordAsync(provider, record.Id)).Status, server.Count));
    }

    [Fact]
    public async Task A_500_is_retried_on_the_schedule()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Error(500, 20500, "Internal Server Error"), TwilioReply.Created);
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Pending, 1, 500), (record.Status, record.Attempts, record.LastStatusCode));
        Assert.Equal(At + RetrySchedule.Delays[0], record.DueAt);
        time.Advance(RetrySchedule.Delays[0]);
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal((DeliveryStatus.Delivered, 2), ((await RecordAsync(provider, record.Id)).Status, server.Count));
    }

    [Fact]
    public async Task A_500_without_twilio_json_is_retried_with_its_status()
    {
        var (server, _) = await StartTwilioAsync(new TwilioReply(503, "<html>upstream unavailable</html>"));
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Pending, 503), (record.Status, record.LastStatusCode));
        Assert.StartsWith("twilio: HTTP 503:", record.LastError);
    }

    [Theory]
    [InlineData(400, 21211, "The 'To' number +14155550100 is not a valid phone number.", AttemptErrorKind.InvalidRecipient)]
    [InlineData(400, 21610, "Attempt to send to unsubscribed recipient", AttemptErrorKind.InvalidRecipient)]
    [InlineData(400, 21614, "'To' number is not a valid mobile number", AttemptErrorKind.InvalidRecipient)]
    [InlineData(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number", AttemptErrorKind.Provider)]
    [InlineData(400, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination.", AttemptErrorKind.Provider)]
    [InlineData(401, 20003, "Authentication Error - invalid username", AttemptErrorKind.Provider)]
    [InlineData(404, 20404, "The requested resource was not found", AttemptErrorKind.Provider)]
    public async Task Refusals_are_dead_lettered_after_one_attempt_with_the_twilio_code(int status, int code, string message, AttemptErrorKind kind)
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Error(status, code, message));
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.DeadLettered, 1, status, kind), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));
        Assert.Equal($"twilio: error {code} (HTTP {status}): {message} https://www.twilio.com/docs/errors/{code}", record.LastError);
        Assert.Equal(1, server.Count);
    }

    [Fact]
    public async Task The_auth_token_never_reaches_the_stored_error_even_when_the_server_echoes_it()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Error(401, 20003, $"Authentication Error - token {AuthToken} rejected"));
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal(DeliveryStatus.DeadLettered, record.Status);
        Assert.Contains("20003", record.LastError);
        Assert.Contains("token [redacted] rejected", record.LastError);
        Assert.DoesNotContain(AuthToken, record.LastError);
    }

    [Fact]
    public async Task A_refused_connection_is_retried_as_a_connection_error()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Created);
        var closed = server.BaseAddress;
        await server.DisposeAsync();
        var (provider, time) = Build(closed);
        await using var _ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Pending, AttemptErrorKind.Connection, null), (record.Status, record.LastErrorKind, record.LastStatusCode));
        Assert.StartsWith($"twilio: the request to {closed.GetLeftPart(UriPartial.Authority)} failed:", record.LastError);
        Assert.DoesNotContain(AuthToken, record.LastError);
    }

    [Fact]
    public async Task A_hang_is_cancelled_by_the_attempt_timeout_through_the_sdk_and_retried()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Hang, TwilioReply.Created);
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "health", "exec-1", new ErrorInfo("down", "T"), 1))).DeliveryIds.Single();

        var run = provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        await server.WaitForAsync(1);
        Assert.False(run.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(30));
        await run;

        var record = await RecordAsync(provider, id);
        Assert.Equal((DeliveryStatus.Pending, AttemptErrorKind.Timeout, "no response within 30000 ms"), (record.Status, record.LastErrorKind, record.LastError));
        time.Advance(RetrySchedule.Delays[0]);
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await RecordAsync(provider, id)).Status);
    }

    [Fact]
    public async Task An_oversized_reply_is_not_buffered_and_the_attempt_is_retried()
    {
        var (server, _) = await StartTwilioAsync(new TwilioReply(201, "{\"sid\":\"" + new string('x', 2 * 1024 * 1024) + "\"}"));
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.Pending, AttemptErrorKind.Connection), (record.Status, record.LastErrorKind));
        Assert.EndsWith("failed: the reply is larger than 1048576 bytes", record.LastError);
    }

    [Fact]
    public async Task The_sdk_traffic_goes_through_the_ssrf_guard()
    {
        var (server, _) = await StartTwilioAsync(TwilioReply.Created);
        await using var __ = server;
        var (provider, time) = Build(server.BaseAddress, allowLoopback: false);
        await using var ___ = provider;

        var record = await SendAsync(provider, time);

        Assert.Equal((DeliveryStatus.DeadLettered, AttemptErrorKind.DestinationRefused), (record.Status, record.LastErrorKind));
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public async Task Settings_of_the_message_override_account_token_and_messaging_service()
    {
        var (server, requests) = await StartTwilioAsync(TwilioReply.Created);
        await using var _ = server;
        var (provider, _) = Build(server.BaseAddress);
        await using var __ = provider;
        var twilio = provider.GetServices<ISmsProvider>().Single(p => p.Name == "twilio");
        var message = new SmsMessage(string.Empty, Recipient, "step alert")
        {
            Settings = new Dictionary<string, string>
            {
                ["accountSid"] = "AC99999999999999999999999999999999",
                ["authToken"] = "step-token",
                ["messagingServiceSid"] = "MG99999999999999999999999999999999",
            },
        };

        Assert.True(twilio.CanSendWithoutSender(message));
        Assert.False(twilio.CanSendWithoutSender(message with { Settings = null }));
        var result = await twilio.SendAsync(message, "dlv_1", CancellationToken.None);

        Assert.Equal(AttemptResult.Delivered(201), result);
        var (request, form) = Assert.Single(requests);
        Assert.Equal("/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json", request.Path);
        Assert.Equal(Basic("AC99999999999999999999999999999999", "step-token"), request.Header("Authorization"));
        Assert.Equal(new[] { "Body", "MessagingServiceSid", "To" }, form.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("MG99999999999999999999999999999999", "step alert"), (form["MessagingServiceSid"].ToString(), form["Body"].ToString()));
    }

    [Fact]
    public async Task A_base_address_path_is_kept_as_a_prefix()
    {
        var (server, requests) = await StartTwilioAsync(TwilioReply.Created);
        await using var _ = server;
        var (provider, time) = Build(new Uri(server.BaseAddress, "/proxy/twilio/"));
        await using var __ = provider;

        Assert.Equal(DeliveryStatus.Delivered, (await SendAsync(provider, time)).Status);
        Assert.Equal($"/proxy/twilio/2010-04-01/Accounts/{AccountSid}/Messages.json", Assert.Single(requests).Request.Path);
    }
}
