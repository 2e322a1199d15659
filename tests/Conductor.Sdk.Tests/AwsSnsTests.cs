using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Conductor.Sdk.Aws;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The SigV4 signer against AWS's published test suite (SigV4/), and the aws-sns provider against a loopback server that
/// checks the exact Publish form and recomputes the signature from what it received.
/// </summary>
public sealed class AwsSnsTests
{
    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);
    private const string KeyId = "AKIDEXAMPLE";
    private const string Secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    private const string Token = "IQoJb3JpZ2luX2VjEXAMPLE/session+token==";
    private const string Body = "Déploiement échoué ✓ 100% & more+";

    private static string VectorRoot => Path.Combine(AppContext.BaseDirectory, "SigV4");

    public static TheoryData<string> Vectors()
    {
        var data = new TheoryData<string>();
        foreach (var directory in Directory.GetDirectories(VectorRoot).Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(directory));
        return data;
    }

    [Fact]
    public void The_whole_aws_test_suite_is_present()
    {
        // Guards the theory below against passing with a missing or partly copied folder.
        var names = Vectors().Cast<object[]>().Select(row => (string)row[0]).ToArray();
        Assert.Equal(38, names.Length);
        Assert.Contains("get-vanilla", names);
        Assert.Contains("post-x-www-form-urlencoded", names);
        Assert.Contains("post-sts-header-before", names);
        Assert.Contains("post-sts-header-after", names);
        Assert.All(names, name => Assert.Equal(6, Directory.GetFiles(Path.Combine(VectorRoot, name)).Length));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Signer_matches_the_aws_test_suite(string name)
    {
        var folder = Path.Combine(VectorRoot, name);
        string Read(string file) => File.ReadAllText(Path.Combine(folder, file), new UTF8Encoding(false));
        using var context = JsonDocument.Parse(Read("context.json"));
        var root = context.RootElement;
        var credentials = root.GetProperty("credentials");
        var time = new FakeTimeProvider(DateTimeOffset.Parse(root.GetProperty("timestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        var (method, path, query, headers, body) = ParseRequest(Read("request.txt"));
        var request = new AwsSigningRequest(method, path, query, headers, Encoding.UTF8.GetBytes(body))
        {
            NormalizePath = root.GetProperty("normalize").GetBoolean(),
            AddContentSha256Header = root.GetProperty("sign_body").GetBoolean(),
            SignSessionToken = !(root.TryGetProperty("omit_session_token", out var omit) && omit.GetBoolean()),
        };
        var signature = new AwsSignatureV4(time).Sign(
            request,
            new AwsCredentials(
                credentials.GetProperty("access_key_id").GetString()!,
                credentials.GetProperty("secret_access_key").GetString()!,
                credentials.TryGetProperty("token", out var token) ? token.GetString() : null),
            root.GetProperty("region").GetString()!,
            root.GetProperty("service").GetString()!);

        Assert.Equal(Read("header-canonical-request.txt"), signature.CanonicalRequest);
        Assert.Equal(Read("header-string-to-sign.txt"), signature.StringToSign);
        Assert.Equal(Read("header-signature.txt"), signature.Signature);
        var signed = ParseRequest(Read("header-signed-request.txt")).Headers;
        Assert.Equal(signed.Single(h => h.Key == "Authorization").Value, signature.Authorization);
        // The headers the signer must add are exactly those the signed request has and the original lacks.
        var added = signed.Where(h => h.Key != "Authorization").Except(headers).Select(h => $"{h.Key.ToLowerInvariant()}:{h.Value}").Order(StringComparer.Ordinal);
        Assert.Equal(added, signature.AddedHeaders.Select(h => $"{h.Key.ToLowerInvariant()}:{h.Value}").Order(StringComparer.Ordinal));
    }

    // request.txt: "METHOD target HTTP/1.1", headers (a line starting with whitespace continues the previous one), blank line, body.
    private static (string Method, string Path, string Query, List<KeyValuePair<string, string>> Headers, string Body) ParseRequest(string text)
    {
        var lines = text.Split('\n');
        var first = lines[0];
        var target = first[(first.IndexOf(' ', StringComparison.Ordinal) + 1)..first.LastIndexOf(" HTTP/", StringComparison.Ordinal)];
        var questionMark = target.IndexOf('?', StringComparison.Ordinal);
        var headers = new List<KeyValuePair<string, string>>();
        var i = 1;
        for (; i < lines.Length && lines[i].Length > 0; i++)
        {
            if (lines[i][0] is ' ' or '\t')
            {
                headers[^1] = KeyValuePair.Create(headers[^1].Key, headers[^1].Value + "\n" + lines[i]);
                continue;
            }

            var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            headers.Add(KeyValuePair.Create(lines[i][..colon], lines[i][(colon + 1)..]));
        }

        var body = i < lines.Length ? string.Join('\n', lines[(i + 1)..]) : string.Empty;
        return (first[..first.IndexOf(' ', StringComparison.Ordinal)],
            questionMark < 0 ? target : target[..questionMark],
            questionMark < 0 ? string.Empty : target[(questionMark + 1)..],
            headers,
            body);
    }

    [Fact]
    public void Signing_uses_the_time_provider_and_changes_with_it()
    {
        var time = new FakeTimeProvider(At);
        var signer = new AwsSignatureV4(time);
        var request = new AwsSigningRequest("POST", "/", string.Empty, new[] { KeyValuePair.Create("Host", "sns.eu-west-1.amazonaws.com") }, "Action=Publish"u8.ToArray());
        var credentials = new AwsCredentials(KeyId, Secret);
        var first = signer.Sign(request, credentials, "eu-west-1", "sns");
        Assert.Equal(("20240115T103000Z", "20240115/eu-west-1/sns/aws4_request"), (first.AmzDate, first.CredentialScope));
        time.Advance(TimeSpan.FromDays(1));
        var next = signer.Sign(request, credentials, "eu-west-1", "sns");
        Assert.Equal("20240116/eu-west-1/sns/aws4_request", next.CredentialScope);
        Assert.NotEqual(first.Signature, next.Signature);
        Assert.DoesNotContain(Secret, credentials.ToString() + first);
    }

    private sealed record SnsReply(int Status, string Xml, params (string Name, string Value)[] Headers);

    private static async Task<Receiver> StartSnsAsync(params SnsReply[] replies)
    {
        Receiver? self = null;
        var server = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async context =>
        {
            var request = await Receiver.ReadAsync(context);
            var n = self!.Count;
            self.Record(request);
            var reply = replies[Math.Min(n, replies.Length - 1)];
            context.Response.StatusCode = reply.Status;
            foreach (var (name, value) in reply.Headers) context.Response.Headers[name] = value;
            context.Response.ContentType = "text/xml";
            await context.Response.WriteAsync(reply.Xml);
        }));
        self = server;
        return server;
    }

    private static SnsReply Published() => new(200, """
        <PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">
          <PublishResult>
            <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>
          </PublishResult>
          <ResponseMetadata>
            <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>
          </ResponseMetadata>
        </PublishResponse>
        """);

    private static SnsReply Error(int status, string code, string message, params (string Name, string Value)[] headers) => new(status, $"""
        <ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">
          <Error>
            <Type>Sender</Type>
            <Code>{code}</Code>
            <Message>{message}</Message>
          </Error>
          <RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId>
        </ErrorResponse>
        """, headers);

    private static (ServiceProvider Provider, FakeTimeProvider Time) Build(Receiver server, Action<AwsSnsSmsOptions>? configure = null)
    {
        var time = new FakeTimeProvider(At);
        var address = server.BaseAddress; // read now: the options are built later, maybe after the server stopped
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddAwsSnsSms(o =>
            {
                o.AccessKeyId = KeyId;
                o.SecretAccessKey = Secret;
                o.SessionToken = Token;
                o.Region = "eu-west-1";
                o.BaseAddress = address;
                o.SenderId = "Conductor";
                configure?.Invoke(o);
            })
            .AddNotification(new SmsNotificationDefinition("health", 0, new[] { EventNames.ExecutionFailed }, "aws-sns",
                new[] { new CompiledTemplate("+14155550100", (in TemplateContext _) => "+14155550100") },
                new CompiledTemplate("+14155550111", (in TemplateContext _) => "+14155550111"),
                new CompiledTemplate(Body, (in TemplateContext _) => Body)));
        return (services.BuildServiceProvider(), time);
    }

    private static async Task<DeliveryRecord> SendAsync(ServiceProvider provider, FakeTimeProvider time)
    {
        var id = (await provider.GetRequiredService<NotificationDispatcher>().DispatchAsync(
            new ExecutionFailed(time.GetUtcNow(), "health", "exec-1", new ErrorInfo("down", "T"), 1))).DeliveryIds.Single();
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        return await GetAsync(provider, id);
    }

    private static async Task<DeliveryRecord> GetAsync(ServiceProvider provider, string id) =>
        (await provider.GetRequiredService<IDeliveryStore>().GetAsync(id))!;

    private static readonly Regex AuthorizationPattern = new(
        "^AWS4-HMAC-SHA256 Credential=(?<key>[^/]+)/(?<scope>(?<date>[0-9]{8})/(?<region>[^/]+)/(?<service>[^/]+)/aws4_request), SignedHeaders=(?<headers>[a-z0-9;-]+), Signature=(?<signature>[0-9a-f]{64})$");

    // SigV4 computed here from the received bytes alone, so the check does not depend on the signer under test.
    private static string Recompute(ReceivedRequest request, string amzDate, string scope, string signedHeaders, string secret)
    {
        var canonical = new StringBuilder($"{request.Method}\n{request.Path}\n\n");
        foreach (var name in signedHeaders.Split(';')) canonical.Append(name).Append(':').Append(request.Header(name).Trim()).Append('\n');
        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(Convert.ToHexStringLower(SHA256.HashData(request.Body)));
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + secret);
        foreach (var part in scope.Split('/')) key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
    }

    [Fact]
    public async Task Publish_gets_the_exact_form_and_a_signature_the_server_can_verify()
    {
        await using var server = await StartSnsAsync(Published());
        var (provider, time) = Build(server);
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Delivered, 1, 200), (record.Status, record.Attempts, record.LastStatusCode));

        var request = Assert.Single(server.Requests);
        Assert.Equal(("POST", "/"), (request.Method, request.Path));
        Assert.Equal(server.BaseAddress.Authority, request.Header("Host"));
        Assert.Equal("application/x-www-form-urlencoded; charset=utf-8", request.Header("Content-Type"));
        Assert.Equal("20240115T103000Z", request.Header("X-Amz-Date"));
        Assert.Equal(Token, request.Header("X-Amz-Security-Token"));
        Assert.Equal(
            "Action=Publish&Version=2010-03-31&PhoneNumber=%2B14155550100"
            + "&Message=D%C3%A9ploiement%20%C3%A9chou%C3%A9%20%E2%9C%93%20100%25%20%26%20more%2B"
            + "&MessageAttributes.entry.1.Name=AWS.SNS.SMS.SMSType&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=Transactional"
            + "&MessageAttributes.entry.2.Name=AWS.SNS.SMS.SenderID&MessageAttributes.entry.2.Value.DataType=String&MessageAttributes.entry.2.Value.StringValue=Conductor",
            Encoding.UTF8.GetString(request.Body));
        var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body)).ToDictionary(p => p.Key, p => p.Value.ToString());
        Assert.Equal(new Dictionary<string, string>
        {
            ["Action"] = "Publish",
            ["Version"] = "2010-03-31",
            ["PhoneNumber"] = "+14155550100",
            ["Message"] = Body,
            ["MessageAttributes.entry.1.Name"] = "AWS.SNS.SMS.SMSType",
            ["MessageAttributes.entry.1.Value.DataType"] = "String",
            ["MessageAttributes.entry.1.Value.StringValue"] = "Transactional",
            ["MessageAttributes.entry.2.Name"] = "AWS.SNS.SMS.SenderID",
            ["MessageAttributes.entry.2.Value.DataType"] = "String",
            ["MessageAttributes.entry.2.Value.StringValue"] = "Conductor",
        }, form);

        var authorization = AuthorizationPattern.Match(request.Header("Authorization"));
        Assert.True(authorization.Success, request.Header("Authorization"));
        Assert.Equal((KeyId, "20240115", "eu-west-1", "sns", "content-type;host;x-amz-date;x-amz-security-token"),
            (authorization.Groups["key"].Value, authorization.Groups["date"].Value, authorization.Groups["region"].Value, authorization.Groups["service"].Value, authorization.Groups["headers"].Value));
        Assert.Equal(
            Recompute(request, request.Header("X-Amz-Date"), authorization.Groups["scope"].Value, authorization.Groups["headers"].Value, Secret),
            authorization.Groups["signature"].Value);
        Assert.NotEqual(
            Recompute(request, request.Header("X-Amz-Date"), authorization.Groups["scope"].Value, authorization.Groups["headers"].Value, Secret + "x"),
            authorization.Groups["signature"].Value);
        Assert.DoesNotContain(Secret, string.Join('\n', request.Headers.Values) + Encoding.UTF8.GetString(request.Body));
    }

    [Fact]
    public async Task Without_a_session_token_or_sender_id_neither_is_sent()
    {
        await using var server = await StartSnsAsync(Published());
        var (provider, time) = Build(server, o =>
        {
            o.SessionToken = null;
            o.SenderId = null;
            o.SmsType = "Promotional";
        });
        await using var _ = provider;
        Assert.Equal(DeliveryStatus.Delivered, (await SendAsync(provider, time)).Status);
        var request = Assert.Single(server.Requests);
        Assert.False(request.Headers.ContainsKey("x-amz-security-token"));
        var authorization = AuthorizationPattern.Match(request.Header("Authorization"));
        Assert.Equal("content-type;host;x-amz-date", authorization.Groups["headers"].Value);
        Assert.Equal(Recompute(request, request.Header("X-Amz-Date"), authorization.Groups["scope"].Value, authorization.Groups["headers"].Value, Secret), authorization.Groups["signature"].Value);
        var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body));
        Assert.Equal("Promotional", form["MessageAttributes.entry.1.Value.StringValue"].ToString());
        Assert.DoesNotContain(form.Keys, k => k.StartsWith("MessageAttributes.entry.2.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Throttling_is_retried_at_the_scheduled_time()
    {
        await using var server = await StartSnsAsync(Error(400, "Throttling", "Rate exceeded"), Published());
        var (provider, time) = Build(server);
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Pending, 1, 400, AttemptErrorKind.Provider), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));
        Assert.Equal("aws-sns: HTTP 400 Throttling: Rate exceeded", record.LastError);
        Assert.Equal(At + RetrySchedule.Delays[0], record.DueAt);

        time.Advance(RetrySchedule.Delays[0] - TimeSpan.FromMilliseconds(1));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(1, server.Count);

        time.Advance(TimeSpan.FromMilliseconds(1));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        var delivered = await GetAsync(provider, record.Id);
        Assert.Equal((DeliveryStatus.Delivered, 2), (delivered.Status, delivered.Attempts));
        Assert.Equal(2, server.Count);
        // The retry is signed at its own time.
        Assert.Equal("20240115T103001Z", server.Requests[1].Header("X-Amz-Date"));
    }

    [Fact]
    public async Task Unavailable_with_retry_after_waits_as_asked()
    {
        await using var server = await StartSnsAsync(Error(503, "ServiceUnavailable", "Service is unavailable", ("Retry-After", "20")), Published());
        var (provider, time) = Build(server);
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Pending, 503), (record.Status, record.LastStatusCode));
        Assert.Equal(At + TimeSpan.FromSeconds(20), record.DueAt);
    }

    [Fact]
    public async Task A_refused_connection_is_retried()
    {
        var closed = await StartSnsAsync(Published());
        var (provider, time) = Build(closed);
        await closed.DisposeAsync();
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Pending, 1, AttemptErrorKind.Connection, null), (record.Status, record.Attempts, record.LastErrorKind, record.LastStatusCode));
        Assert.StartsWith("aws-sns: 127.0.0.1: ", record.LastError);
        Assert.Equal(At + RetrySchedule.Delays[0], record.DueAt);
    }

    [Fact]
    public async Task A_429_without_an_aws_error_body_is_retried_with_the_reply_text()
    {
        await using var server = await StartSnsAsync(new SnsReply(429, "<html>\n<body>Too Many Requests</body>\n</html>"));
        var (provider, time) = Build(server);
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.Pending, 429), (record.Status, record.LastStatusCode));
        Assert.Equal("aws-sns: HTTP 429 <html> <body>Too Many Requests</body> </html>", record.LastError);
    }

    [Fact]
    public async Task Invalid_parameter_is_dead_lettered_after_one_attempt()
    {
        await using var server = await StartSnsAsync(Error(400, "InvalidParameter", "Invalid parameter: PhoneNumber Reason: +14155550100 is not valid to publish to"), Published());
        var (provider, time) = Build(server);
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.DeadLettered, 1, 400, AttemptErrorKind.Provider), (record.Status, record.Attempts, record.LastStatusCode, record.LastErrorKind));
        Assert.Equal("aws-sns: HTTP 400 InvalidParameter: Invalid parameter: PhoneNumber Reason: +14155550100 is not valid to publish to", record.LastError);
        time.Advance(TimeSpan.FromMinutes(10));
        await provider.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(1, server.Count);
    }

    [Fact]
    public async Task A_rejected_signature_is_permanent_and_the_echoed_secrets_are_removed()
    {
        // SignatureDoesNotMatch replies quote the canonical request, which holds the signed session token.
        await using var server = await StartSnsAsync(Error(403, "SignatureDoesNotMatch",
            $"The request signature we calculated does not match the signature you provided. The Canonical String for this request should have been 'POST / x-amz-security-token:{Token} {Secret}'"));
        var (provider, time) = Build(server);
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.DeadLettered, 1, 403), (record.Status, record.Attempts, record.LastStatusCode));
        Assert.StartsWith("aws-sns: HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match", record.LastError);
        Assert.EndsWith("(check SecretAccessKey)", record.LastError);
        Assert.DoesNotContain(Token, record.LastError);
        Assert.DoesNotContain(Secret, record.LastError);
        Assert.Contains("x-amz-security-token:[session token] [secret]", record.LastError);
    }

    [Fact]
    public async Task A_missing_region_is_a_permanent_error_that_says_what_to_set()
    {
        await using var server = await StartSnsAsync(Published());
        var (provider, time) = Build(server, o => o.Region = "");
        await using var _ = provider;
        var record = await SendAsync(provider, time);
        Assert.Equal((DeliveryStatus.DeadLettered, 1), (record.Status, record.Attempts));
        Assert.Equal("aws-sns: region '' is not an AWS region name such as 'us-east-1'; set AddAwsSnsSms(o => o.Region = ...) or the step's 'region' setting", record.LastError);
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public async Task Message_settings_override_the_options()
    {
        await using var server = await StartSnsAsync(Published());
        var (provider, _) = Build(server);
        await using var __ = provider;
        var sns = provider.GetServices<ISmsProvider>().Single(p => p.Name == "aws-sns");
        var message = new SmsMessage("+14155550111", "+14155550100", "hi")
        {
            Settings = new Dictionary<string, string> { ["region"] = "us-west-2", ["accessKeyId"] = "AKIDOTHER", ["secretAccessKey"] = "other-secret", ["senderId"] = "Ops" },
        };
        var result = await sns.SendAsync(message, "dlv_1", CancellationToken.None);
        Assert.Equal(AttemptOutcome.Delivered, result.Outcome);
        var request = Assert.Single(server.Requests);
        var authorization = AuthorizationPattern.Match(request.Header("Authorization"));
        Assert.Equal(("AKIDOTHER", "us-west-2", "content-type;host;x-amz-date;x-amz-security-token"),
            (authorization.Groups["key"].Value, authorization.Groups["region"].Value, authorization.Groups["headers"].Value));
        Assert.Equal(Recompute(request, request.Header("X-Amz-Date"), authorization.Groups["scope"].Value, authorization.Groups["headers"].Value, "other-secret"), authorization.Groups["signature"].Value);
        Assert.Equal("Ops", QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body))["MessageAttributes.entry.2.Value.StringValue"].ToString());
    }

    [Fact]
    public void The_default_address_is_the_regional_endpoint()
    {
        Assert.Equal(new Uri("https://sns.eu-west-1.amazonaws.com/"), AwsSnsSmsProvider.EndpointFor("eu-west-1"));
        Assert.Equal(new Uri("https://sns.cn-north-1.amazonaws.com.cn/"), AwsSnsSmsProvider.EndpointFor("cn-north-1"));
    }
}
