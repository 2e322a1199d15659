using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Security;
using Conductor.Sdk.Webhooks;
using Lib.Net.Http.WebPush;
using Lib.Net.Http.WebPush.Authentication;
using Microsoft.Extensions.Options;
using LibPushMessage = Lib.Net.Http.WebPush.PushMessage;

namespace Conductor.Sdk.Push;

/// <summary>How soon a push service should deliver a message (RFC 8030 section 5.3, the <c>Urgency</c> header).</summary>
public enum WebPushUrgency
{
    /// <summary>Deliver only on power and Wi-Fi (advertisements).</summary>
    VeryLow,
    /// <summary>Deliver on power or Wi-Fi (topic updates).</summary>
    Low,
    /// <summary>The default: no <c>Urgency</c> header is sent.</summary>
    Normal,
    /// <summary>Deliver at once, even on low battery (incoming calls, time-critical alerts).</summary>
    High,
}

/// <summary>
/// Settings of <c>provider: webpush</c>. The VAPID keys are credentials: bind them from configuration or a secret
/// store; they are checked at start and never written to logs or errors.
/// </summary>
public sealed class WebPushOptions
{
    /// <summary>
    /// How the push service operator can reach you, the VAPID <c>sub</c> claim: <c>mailto:ops@example.com</c> or an
    /// <c>https:</c> URL.
    /// </summary>
    public string VapidSubject { get; set; } = string.Empty;

    /// <summary>
    /// The application server public key: the uncompressed P-256 point (65 bytes), base64url. It is the
    /// <c>applicationServerKey</c> the browser subscribed with; subscriptions made with another key are refused (403).
    /// </summary>
    public string VapidPublicKey { get; set; } = string.Empty;

    /// <summary>The matching P-256 private key (32 bytes), base64url. A secret.</summary>
    public string VapidPrivateKey { get; set; } = string.Empty;

    /// <summary>
    /// How long the push service keeps a message for a device that is offline (the <c>TTL</c> header, whole
    /// seconds). Zero means deliver now or drop. Default: 4 weeks.
    /// </summary>
    public TimeSpan DefaultTimeToLive { get; set; } = TimeSpan.FromDays(28);

    /// <summary>The <c>Urgency</c> of every message; <see cref="WebPushUrgency.Normal"/> sends no header.</summary>
    public WebPushUrgency Urgency { get; set; } = WebPushUrgency.Normal;
}

/// <summary>Checks <see cref="WebPushOptions"/> with messages that say what to change and never quote a key.</summary>
internal sealed class WebPushOptionsValidator : IValidateOptions<WebPushOptions>
{
    public ValidateOptionsResult Validate(string? name, WebPushOptions options)
    {
        var failures = new List<string>();
        if (SubjectProblem(options.VapidSubject) is { } subject) failures.Add($"WebPush:VapidSubject {subject}.");
        var (key, keyProblem) = WebPushKeys.CreateSigningKey(options.VapidPublicKey, options.VapidPrivateKey);
        key?.Dispose();
        if (keyProblem is not null)
        {
            failures.Add($"WebPush:{keyProblem}. Generate a VAPID key pair once (for example with 'npx web-push generate-vapid-keys'), give the public key to the browser as applicationServerKey, and bind both from configuration.");
        }

        if (options.DefaultTimeToLive < TimeSpan.Zero || options.DefaultTimeToLive.TotalSeconds > int.MaxValue)
        {
            failures.Add($"WebPush:DefaultTimeToLive must be between 0 and {int.MaxValue} seconds (it is {options.DefaultTimeToLive}).");
        }

        if (!Enum.IsDefined(options.Urgency)) failures.Add($"WebPush:Urgency must be VeryLow, Low, Normal or High (it is {(int)options.Urgency}).");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static string? SubjectProblem(string? subject)
    {
        if (string.IsNullOrWhiteSpace(subject)) return "is required: a mailto: address or https: URL where the push service can reach you";
        if (subject.StartsWith("mailto:", StringComparison.Ordinal)) return subject.Length > "mailto:".Length ? null : "names no address after 'mailto:'";
        return Uri.TryCreate(subject, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps
            ? null
            : $"'{subject}' must start with 'mailto:' or be an absolute https: URL";
    }
}

/// <summary>
/// <c>provider: webpush</c>: RFC 8030 Web Push to a browser subscription (<c>subscription:</c>, the JSON of
/// <c>PushSubscription.toJSON()</c>), the payload encrypted with aes128gcm (RFC 8291) and the request signed with
/// VAPID (RFC 8292), through Lib.Net.Http.WebPush and the SSRF-guarded HTTP client.
/// </summary>
/// <remarks>
/// The payload is <c>{"title","body","image","data":{…},"actions":[{"action","title"}],"event"}</c> (null title, body
/// and image left out) for the app's service worker to show. 404 and 410 mean the subscription is gone
/// (<see cref="AttemptErrorKind.InvalidRecipient"/>); 429 and 5xx are retried, honouring Retry-After; other
/// statuses (400, 403, 413, …) are permanent.
/// </remarks>
public sealed class WebPushProvider(IHttpClientFactory clients, IOptions<WebPushOptions> options, TimeProvider time) : IPushProvider, IDisposable
{
    /// <summary>
    /// The largest payload a push service must accept: 4096 bytes of body less the aes128gcm header (86), the
    /// padding delimiter (1) and the authentication tag (16), per RFC 8291 section 4.
    /// </summary>
    public const int MaxPayloadBytes = 3993;

    // Services replying with a reason phrase plus a body: enough to act on, not enough to flood a record.
    private const int MaxDetailLength = 200;

    private readonly Lock _gate = new();
    private PushServiceClient? _client;
    private VapidTokenIssuer? _issuer;

    /// <inheritdoc />
    public string Name => "webpush";

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(PushMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        if (message.Target.Kind != "subscription")
        {
            return Fail($"{message.Describe}: the webpush provider sends to 'subscription:' (the browser's PushSubscription JSON), not to '{message.Target.Kind}:'");
        }

        var (subscription, problem) = WebPushSubscription.Parse(message.Target.Value);
        if (subscription is null)
        {
            return Fail($"{message.Describe}, field 'subscription': {problem}; render the browser's PushSubscription.toJSON(), {{\"endpoint\":\"https://…\",\"keys\":{{\"p256dh\":\"…\",\"auth\":\"…\"}}}}");
        }

        var payload = WritePayload(message);
        if (payload.Length > MaxPayloadBytes)
        {
            return Fail($"{message.Describe}: the webpush payload is {payload.Length} bytes, more than the {MaxPayloadBytes} push services must accept; shorten the title, body or data");
        }

        WebPushOptions settings;
        VapidTokenIssuer issuer;
        PushServiceClient client;
        try
        {
            (settings, issuer, client) = Prepare();
        }
        catch (OptionsValidationException ex)
        {
            return Fail($"{message.Describe}: the webpush provider is misconfigured: {ex.Message}");
        }

        var request = new LibPushMessage(new ByteArrayContent(payload))
        {
            TimeToLive = (int)settings.DefaultTimeToLive.TotalSeconds,
            Urgency = settings.Urgency switch
            {
                WebPushUrgency.VeryLow => PushMessageUrgency.VeryLow,
                WebPushUrgency.Low => PushMessageUrgency.Low,
                WebPushUrgency.High => PushMessageUrgency.High,
                _ => PushMessageUrgency.Normal,
            },
        };
        var target = new PushSubscription { Endpoint = subscription.Endpoint.AbsoluteUri };
        target.SetKey(PushEncryptionKeyName.P256DH, subscription.P256dh);
        target.SetKey(PushEncryptionKeyName.Auth, subscription.Auth);
        try
        {
            using var vapid = issuer.Authenticate(subscription.Origin);
            await client.RequestPushMessageDeliveryAsync(target, request, vapid, VapidAuthenticationScheme.Vapid, cancellationToken).ConfigureAwait(false);
            // The library accepts 200, 201 and 202 without saying which; RFC 8030 answers 201 Created.
            return AttemptResult.Delivered(null);
        }
        catch (PushServiceClientException ex)
        {
            return Classify(ex, subscription);
        }
        catch (HttpRequestException ex) when (ExceptionChain.Find<DestinationRefusedException>(ex) is { } refused)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.DestinationRefused, $"webpush: {refused.Message}");
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"webpush: {subscription.Endpoint.Host}: {ex.Message}");
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            // Keys and subscription were checked before; the library's message is left out in case it quotes a key.
            return Fail($"{message.Describe}: webpush could not build the request to {subscription.Endpoint.Host} ({ex.GetType().Name}); check the subscription keys and the VAPID settings");
        }
    }

    private (WebPushOptions Settings, VapidTokenIssuer Issuer, PushServiceClient Client) Prepare()
    {
        var settings = options.Value;
        lock (_gate)
        {
            if (_issuer is null)
            {
                var (key, problem) = WebPushKeys.CreateSigningKey(settings.VapidPublicKey, settings.VapidPrivateKey);
                if (key is null) throw new OptionsValidationException(Options.DefaultName, typeof(WebPushOptions), [$"WebPush:{problem}."]);
                _issuer = new VapidTokenIssuer(key, settings.VapidSubject.Trim(), time);
            }

            // One client: the factory's handler recycles connections itself. Retries belong to the delivery
            // schedule, which survives restarts, so the library's in-memory wait on 429 is turned off.
            _client ??= new PushServiceClient(clients.CreateClient(WebhookChannel.HttpClientName)) { AutoRetryAfter = false };
            return (settings, _issuer, _client);
        }
    }

    private AttemptResult Classify(PushServiceClientException ex, WebPushSubscription subscription)
    {
        var status = (int)ex.StatusCode;
        var reason = $"webpush: HTTP {status} {Phrase(ex)}".TrimEnd();
        if (Detail(ex.Body, subscription) is { } detail) reason += ": " + detail;
        if (status is >= 200 and < 300) return AttemptResult.Delivered(status);
        if (ex.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
        {
            return new AttemptResult(AttemptOutcome.Permanent, status, AttemptErrorKind.InvalidRecipient, reason);
        }

        if (ex.StatusCode is HttpStatusCode.TooManyRequests || status >= 500)
        {
            TimeSpan? retryAfter = ex.Headers?.RetryAfter is { } header ? header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null) : null;
            return new AttemptResult(AttemptOutcome.Retry, status, AttemptErrorKind.Provider, reason, retryAfter);
        }

        var hint = ex.StatusCode switch
        {
            HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized => " (the push service refused the VAPID signature: the subscription was made with another applicationServerKey, or the keys or subject are wrong)",
            HttpStatusCode.RequestEntityTooLarge => " (the push service refused the payload size; shorten the title, body or data)",
            HttpStatusCode.BadRequest => " (the push service rejected the request as malformed)",
            _ => string.Empty,
        };
        return new AttemptResult(AttemptOutcome.Permanent, status, AttemptErrorKind.Provider, reason + hint);
    }

    /// <summary>The reason phrase; the library substitutes a sentence of its own when the service sent none.</summary>
    private static string Phrase(PushServiceClientException ex) =>
        ex.Message.StartsWith("Received unexpected response code", StringComparison.Ordinal) ? string.Empty : ex.Message;

    /// <summary>
    /// The service's explanation: the <c>message</c>/<c>reason</c>/<c>error</c> of a JSON body, else the text, cut
    /// short and with the subscription endpoint (a capability URL) masked should the service echo it.
    /// </summary>
    private static string? Detail(string? body, WebPushSubscription subscription)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        var text = body.Trim();
        if (text.StartsWith('{'))
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                foreach (var name in (ReadOnlySpan<string>)["message", "reason", "error"])
                {
                    if (document.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } found)
                    {
                        text = found;
                        break;
                    }
                }
            }
            catch (JsonException)
            {
            }
        }

        text = text.Replace(subscription.Endpoint.AbsoluteUri, "<subscription endpoint>", StringComparison.Ordinal);
        // Push services put the subscription's token in a path segment (FCM, Mozilla, Apple) or the query (WNS).
        var endpoint = subscription.Endpoint;
        foreach (var part in endpoint.AbsolutePath.Split('/').Concat(endpoint.Query.TrimStart('?').Split('&', '=')).Where(p => p.Length >= 16).OrderByDescending(p => p.Length))
        {
            text = text.Replace(part, "<subscription token>", StringComparison.Ordinal);
        }

        text = text.ReplaceLineEndings(" ");
        return text.Length > MaxDetailLength ? text[..MaxDetailLength] + "…" : text;
    }

    /// <summary>
    /// The JSON the service worker receives, written without reflection. Relaxed escaping keeps non-ASCII text as
    /// UTF-8 (a third of the size of \u escapes under the 3,993-byte limit); the payload never lands in HTML unparsed.
    /// </summary>
    internal static byte[] WritePayload(PushMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (message.Title is not null) writer.WriteString("title", message.Title);
            if (message.Body is not null) writer.WriteString("body", message.Body);
            if (message.Image is not null) writer.WriteString("image", message.Image);
            writer.WriteStartObject("data");
            foreach (var (key, value) in message.Data) writer.WriteString(key, value);
            writer.WriteEndObject();
            writer.WriteStartArray("actions");
            foreach (var action in message.Actions)
            {
                writer.WriteStartObject();
                writer.WriteString("action", action.Id);
                writer.WriteString("title", action.Title);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteString("event", message.Event);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static AttemptResult Fail(string error) => new(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, error);

    /// <inheritdoc />
    public void Dispose() => _issuer?.Dispose();
}
