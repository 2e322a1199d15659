using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using Conductor.Sdk.Aws;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Security;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Sms;

/// <summary>Settings of the Amazon SNS provider (credentials from configuration; never logged).</summary>
public sealed class AwsSnsSmsOptions
{
    /// <summary>The access key id of an IAM principal allowed <c>sns:Publish</c>.</summary>
    public string AccessKeyId { get; set; } = string.Empty;

    /// <summary>The secret access key.</summary>
    public string SecretAccessKey { get; set; } = string.Empty;

    /// <summary>The session token, for temporary credentials (STS); null for long-term keys.</summary>
    public string? SessionToken { get; set; }

    /// <summary>The AWS region that sends the messages, e.g. <c>us-east-1</c>.</summary>
    public string Region { get; set; } = string.Empty;

    /// <summary>
    /// The API's base address; null (the default) means <c>https://sns.{Region}.amazonaws.com/</c>
    /// (<c>.amazonaws.com.cn</c> for the <c>cn-</c> regions). Tests point it at loopback.
    /// </summary>
    public Uri? BaseAddress { get; set; }

    /// <summary><c>Transactional</c> (the default: critical messages, optimised for delivery) or <c>Promotional</c>.</summary>
    public string SmsType { get; set; } = "Transactional";

    /// <summary>An alphanumeric sender id (up to 11 characters) for the countries that support one; null to send none.</summary>
    public string? SenderId { get; set; }
}

/// <summary>
/// <c>provider: aws-sns</c>: the SNS <c>Publish</c> action (query API, version 2010-03-31) signed with AWS Signature
/// Version 4 for the service <c>sns</c>: a form <c>POST /</c> with Action, Version, PhoneNumber, Message and the
/// <c>AWS.SNS.SMS.SMSType</c> (and, when set, <c>AWS.SNS.SMS.SenderID</c>) message attributes. Accepted when the reply
/// is a <c>PublishResponse</c> with a <c>MessageId</c>. Throttling codes, HTTP 408, 429, 5xx and connection errors are retried
/// (Retry-After honoured); any other error (InvalidParameter, AuthorizationError, SignatureDoesNotMatch…) is permanent,
/// with AWS's code and message in the error and the secret key and session token removed from it.
/// </summary>
/// <remarks>
/// SNS picks the origination identity from the account's settings: <see cref="SmsMessage.From"/> is not sent; set
/// <see cref="AwsSnsSmsOptions.SenderId"/> for an alphanumeric sender. <see cref="SmsMessage.Settings"/> overrides the
/// options per message with the keys <c>accessKeyId</c>, <c>secretAccessKey</c>, <c>sessionToken</c>, <c>region</c>,
/// <c>smsType</c> and <c>senderId</c>.
/// </remarks>
public sealed partial class AwsSnsSmsProvider(IHttpClientFactory clients, IOptions<AwsSnsSmsOptions> options, TimeProvider time) : ISmsProvider
{
    /// <summary>The signing name of the service.</summary>
    public const string ServiceName = "sns";

    private const int ReplyLimit = 64 * 1024;
    private const int ErrorLimit = 500;

    // The throttling and transient codes AWS SDKs retry, whatever the HTTP status that carries them.
    private static readonly HashSet<string> RetriedCodes = new(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "Throttled", "ThrottledException", "RequestThrottled", "RequestThrottledException",
        "TooManyRequestsException", "RequestLimitExceeded", "KMSThrottling", "SlowDown", "PriorRequestNotComplete",
        "InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
    };

    private static readonly Dictionary<string, string> Hints = new(StringComparer.Ordinal)
    {
        ["InvalidClientTokenId"] = "check AccessKeyId (and SessionToken for temporary credentials)",
        ["UnrecognizedClientException"] = "check AccessKeyId (and SessionToken for temporary credentials)",
        ["SignatureDoesNotMatch"] = "check SecretAccessKey",
        ["ExpiredToken"] = "the temporary credentials expired; refresh SessionToken and the keys",
        ["AuthorizationError"] = "grant the principal sns:Publish",
        ["AccessDenied"] = "grant the principal sns:Publish",
        ["RequestExpired"] = "the machine's clock is off by more than 5 minutes",
        ["OptInRequired"] = "the account is not subscribed to SNS in this region",
    };

    private readonly AwsSignatureV4 _signer = new(time);

    [GeneratedRegex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionName();

    /// <inheritdoc />
    public string Name => "aws-sns";

    /// <summary>SNS chooses the sending identity from the account's settings (and <c>SenderId</c>): no <c>from:</c> is needed.</summary>
    public bool CanSendWithoutSender(SmsMessage message) => true;

    /// <summary>The default endpoint of a region.</summary>
    public static Uri EndpointFor(string region) =>
        new(region.StartsWith("cn-", StringComparison.Ordinal) ? $"https://sns.{region}.amazonaws.com.cn/" : $"https://sns.{region}.amazonaws.com/");

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(SmsMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var settings = options.Value;
        var accessKeyId = Setting(message, "accessKeyId") ?? settings.AccessKeyId;
        var secret = Setting(message, "secretAccessKey") ?? settings.SecretAccessKey;
        var token = Setting(message, "sessionToken") ?? settings.SessionToken;
        var region = Setting(message, "region") ?? settings.Region;
        var smsType = Setting(message, "smsType") ?? settings.SmsType;
        var senderId = Setting(message, "senderId") ?? settings.SenderId;
        if (Check(accessKeyId, secret, region, smsType) is { } invalid)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, $"aws-sns: {invalid}");
        }

        var fields = new List<KeyValuePair<string, string>>
        {
            new("Action", "Publish"),
            new("Version", "2010-03-31"),
            new("PhoneNumber", message.To),
            new("Message", message.Body),
            new("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SMSType"),
            new("MessageAttributes.entry.1.Value.DataType", "String"),
            new("MessageAttributes.entry.1.Value.StringValue", smsType),
        };
        if (!string.IsNullOrEmpty(senderId))
        {
            fields.Add(new("MessageAttributes.entry.2.Name", "AWS.SNS.SMS.SenderID"));
            fields.Add(new("MessageAttributes.entry.2.Value.DataType", "String"));
            fields.Add(new("MessageAttributes.entry.2.Value.StringValue", senderId));
        }

        // The region's endpoint follows a per-message region unless an address was configured.
        var address = settings.BaseAddress ?? EndpointFor(region);
        var credentials = new AwsCredentials(accessKeyId, secret, string.IsNullOrEmpty(token) ? null : token);
        using var request = _signer.SignForm(address, fields, credentials, region, ServiceName);
        try
        {
            using var response = await clients.CreateClient(WebhookChannel.HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var text = await ReadReplyAsync(response.Content, cancellationToken).ConfigureAwait(false);
            return Interpret(response, text, credentials);
        }
        catch (HttpRequestException ex) when (Find<DestinationRefusedException>(ex) is { } refused)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.DestinationRefused, $"aws-sns: {refused.Message}");
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"aws-sns: {address.Host}: {ex.Message}");
        }
    }

    private AttemptResult Interpret(HttpResponseMessage response, string text, AwsCredentials credentials)
    {
        var status = (int)response.StatusCode;
        var reply = Parse(text);
        if (status is >= 200 and < 300)
        {
            if (reply?.Descendants().FirstOrDefault(e => e.Name.LocalName == "MessageId") is { Value.Length: > 0 }) return AttemptResult.Delivered(status);
            // AWS answered success; retrying could send the text twice.
            return new AttemptResult(AttemptOutcome.Permanent, status, AttemptErrorKind.Provider,
                $"aws-sns: HTTP {status} without a PublishResponse MessageId (the message may have been sent, so it is not retried): {Snippet(Redact(text, credentials))}");
        }

        var error = reply?.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
        var code = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value.Trim();
        var detail = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value;
        // 408, 429 and 5xx as for every HTTP destination; AWS also throttles with 400 and a code.
        var outcome = RetrySchedule.Classify(response.StatusCode) == AttemptOutcome.Retry || (code is not null && RetriedCodes.Contains(code))
            ? AttemptOutcome.Retry
            : AttemptOutcome.Permanent;
        TimeSpan? retryAfter = outcome == AttemptOutcome.Retry && response.Headers.RetryAfter is { } header
            ? header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null)
            : null;
        // Redacted before it is cut, so no prefix of a secret survives.
        var description = code is null
            ? Snippet(Redact(text, credentials))
            : $"{code}: {Snippet(Redact(detail ?? string.Empty, credentials))}".TrimEnd(' ', ':') + (Hints.TryGetValue(code, out var hint) ? $" ({hint})" : string.Empty);
        return new AttemptResult(outcome, status, AttemptErrorKind.Provider, $"aws-sns: HTTP {status} {description}".TrimEnd(), retryAfter);
    }

    private string? Check(string accessKeyId, string secret, string region, string smsType)
    {
        if (string.IsNullOrWhiteSpace(accessKeyId)) return "no AccessKeyId; set it in AddAwsSnsSms(o => o.AccessKeyId = ...) or the step's 'accessKeyId' setting";
        if (string.IsNullOrWhiteSpace(secret)) return "no SecretAccessKey; set it in AddAwsSnsSms(o => o.SecretAccessKey = ...) or the step's 'secretAccessKey' setting";
        if (!RegionName().IsMatch(region ?? string.Empty)) return $"region '{region}' is not an AWS region name such as 'us-east-1'; set AddAwsSnsSms(o => o.Region = ...) or the step's 'region' setting";
        if (smsType is not ("Transactional" or "Promotional")) return $"SMS type '{smsType}' is not 'Transactional' or 'Promotional'";
        return options.Value.BaseAddress is { IsAbsoluteUri: false } ? "BaseAddress must be an absolute URI" : null;
    }

    private static string? Setting(SmsMessage message, string key) =>
        message.Settings is { } settings && settings.TryGetValue(key, out var value) && !string.IsNullOrEmpty(value) ? value : null;

    private static XElement? Parse(string text)
    {
        if (text.Length == 0) return null;
        try
        {
            return XElement.Parse(text);
        }
        catch (XmlException)
        {
            return null;
        }
    }

    private static async Task<string> ReadReplyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[ReplyLimit];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false)) > 0) read += n;
            return Encoding.UTF8.GetString(buffer, 0, read);
        }
    }

    // One line, bounded: AWS messages can quote the whole canonical request.
    private static string Snippet(string text)
    {
        var line = string.Join(' ', text.Split((char[])['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length > ErrorLimit ? line[..ErrorLimit] + "…" : line;
    }

    // SignatureDoesNotMatch replies echo the canonical request, which holds the signed session token.
    private static string Redact(string text, AwsCredentials credentials)
    {
        text = text.Replace(credentials.SecretAccessKey, "[secret]", StringComparison.Ordinal);
        return credentials.SessionToken is { Length: > 0 } token ? text.Replace(token, "[session token]", StringComparison.Ordinal) : text;
    }

    private static T? Find<T>(Exception exception) where T : Exception
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found) return found;
        }

        return null;
    }
}
