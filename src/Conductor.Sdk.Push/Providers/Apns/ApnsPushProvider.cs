using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Security;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Push;

/// <summary>The APNs server a provider sends to.</summary>
public enum ApnsEnvironment
{
    /// <summary><c>https://api.push.apple.com</c>: apps from the App Store, TestFlight and ad-hoc builds.</summary>
    Production,

    /// <summary><c>https://api.sandbox.push.apple.com</c>: apps built and run from Xcode with the development entitlement.</summary>
    Development,
}

/// <summary>
/// Settings of the APNs provider, bound by the app from its configuration. The private key is a secret: it is read
/// here and used to sign provider tokens, and never written to logs, exceptions or delivery errors.
/// </summary>
public sealed class ApnsPushOptions
{
    /// <summary>The 10-character Key ID of the APNs authentication key (.p8) in the Apple Developer account; the JWT's <c>kid</c>.</summary>
    public string KeyId { get; set; } = string.Empty;

    /// <summary>The 10-character Team ID of the Apple Developer account; the JWT's <c>iss</c>.</summary>
    public string TeamId { get; set; } = string.Empty;

    /// <summary>
    /// The content of the .p8 key file (PEM, <c>-----BEGIN PRIVATE KEY-----</c>). Escaped <c>\n</c> sequences, as
    /// environment variables often carry them, are accepted. Set this or <see cref="PrivateKeyFile"/>.
    /// </summary>
    public string? PrivateKey { get; set; }

    /// <summary>The path of the .p8 key file. Set this or <see cref="PrivateKey"/>.</summary>
    public string? PrivateKeyFile { get; set; }

    /// <summary>The app's bundle identifier, sent as <c>apns-topic</c>.</summary>
    public string BundleId { get; set; } = string.Empty;

    /// <summary>Which APNs server to use; device tokens of development builds only work with <see cref="ApnsEnvironment.Development"/>.</summary>
    public ApnsEnvironment Environment { get; set; } = ApnsEnvironment.Production;

    /// <summary>Replaces the server chosen by <see cref="Environment"/>; tests point it at loopback.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary><c>apns-push-type</c>; the payload is an alert (title, body), so keep <c>alert</c> unless the app needs another alert-carrying type.</summary>
    public string PushType { get; set; } = "alert";

    /// <summary><c>apns-priority</c>: 10 (immediately), 5 (considering power) or 1 (lowest).</summary>
    public int Priority { get; set; } = 10;

    /// <summary>
    /// How long APNs keeps trying to reach an offline device; sent as <c>apns-expiration</c>, the send time plus this
    /// in Unix seconds. Null sends 0: deliver now or never.
    /// </summary>
    public TimeSpan? Expiration { get; set; }

    /// <summary><c>apns-collapse-id</c> (at most 64 bytes): notifications with the same id replace each other on the device. Null sends none.</summary>
    public string? CollapseId { get; set; }

    /// <summary>The server address in use.</summary>
    internal Uri Server => BaseAddress ?? new Uri(Environment == ApnsEnvironment.Development ? "https://api.sandbox.push.apple.com/" : "https://api.push.apple.com/");

    /// <summary>Reads the configured key; the error says what to fix and never contains key material.</summary>
    internal ECDsa? LoadKey(out string? error)
    {
        string pem;
        var source = PrivateKeyFile is { Length: > 0 } ? $"the file '{PrivateKeyFile}' (ApnsPushOptions.PrivateKeyFile)" : "ApnsPushOptions.PrivateKey";
        if (PrivateKeyFile is { Length: > 0 } path)
        {
            try
            {
                pem = File.ReadAllText(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                error = $"{source} cannot be read ({ex.GetType().Name}); check the path and that this process may read it.";
                return null;
            }
        }
        else
        {
            pem = PrivateKey ?? string.Empty;
        }

        if (!pem.Contains('\n') && pem.Contains("\\n", StringComparison.Ordinal)) pem = pem.Replace("\\n", "\n", StringComparison.Ordinal);
        var key = ECDsa.Create();
        try
        {
            if (pem.Contains("-----BEGIN", StringComparison.Ordinal)) key.ImportFromPem(pem);
            else key.ImportPkcs8PrivateKey(Convert.FromBase64String(pem.Trim()), out _);
            if (key.KeySize != 256) throw new CryptographicException();
            // A public key imports without error but cannot sign.
            key.ExportParameters(includePrivateParameters: true);
            error = null;
            return key;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException or FormatException)
        {
            key.Dispose();
            error = $"{source} is not a P-256 private key in PEM form; use the content of the AuthKey_<KeyId>.p8 file downloaded from the Apple Developer account.";
            return null;
        }
    }
}

/// <summary>Checks <see cref="ApnsPushOptions"/> with messages that say what to set; key material never appears in them.</summary>
internal sealed class ApnsPushOptionsValidator : IValidateOptions<ApnsPushOptions>
{
    public ValidateOptionsResult Validate(string? name, ApnsPushOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.KeyId)) failures.Add("ApnsPushOptions.KeyId is not set; use the Key ID shown next to the APNs key (.p8) in the Apple Developer account.");
        if (string.IsNullOrWhiteSpace(options.TeamId)) failures.Add("ApnsPushOptions.TeamId is not set; use the Team ID of the Apple Developer account (Membership details).");
        if (string.IsNullOrWhiteSpace(options.BundleId)) failures.Add("ApnsPushOptions.BundleId is not set; use the app's bundle identifier, which APNs expects as apns-topic.");
        var hasKey = !string.IsNullOrWhiteSpace(options.PrivateKey);
        var hasFile = !string.IsNullOrWhiteSpace(options.PrivateKeyFile);
        if (hasKey == hasFile)
        {
            failures.Add(hasKey
                ? "ApnsPushOptions.PrivateKey and PrivateKeyFile are both set; keep one."
                : "ApnsPushOptions.PrivateKey (the .p8 key's content) or PrivateKeyFile (its path) must be set.");
        }
        else
        {
            using var key = options.LoadKey(out var error);
            if (error is not null) failures.Add(error);
        }

        if (options.Priority is not (10 or 5 or 1)) failures.Add($"ApnsPushOptions.Priority must be 10, 5 or 1 (it is {options.Priority}).");
        if (string.IsNullOrWhiteSpace(options.PushType)) failures.Add("ApnsPushOptions.PushType is empty; use \"alert\".");
        if (options.Expiration is { } expiration && expiration < TimeSpan.Zero) failures.Add($"ApnsPushOptions.Expiration must not be negative (it is {expiration}); use null to send expiration 0.");
        if (options.CollapseId is { } collapse && Encoding.UTF8.GetByteCount(collapse) > 64) failures.Add("ApnsPushOptions.CollapseId is longer than the 64 bytes APNs accepts.");
        if (options.BaseAddress is { } address && (!address.IsAbsoluteUri || address.Scheme is not ("https" or "http")))
        {
            failures.Add($"ApnsPushOptions.BaseAddress '{address}' must be an absolute https address.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// <c>provider: apns</c>: Apple Push Notification service with token (.p8) authentication, over HTTP/2.
/// <para>
/// Request: <c>POST /3/device/{deviceToken}</c> (the notification's <c>deviceToken:</c>, hexadecimal; a <c>token:</c> target is accepted too) with <c>authorization: bearer</c> an ES256 provider token (see
/// <see cref="ApnsPushOptions"/>; one token is reused for 50 minutes), <c>apns-topic</c> = the notification's <c>topic:</c> or else BundleId,
/// <c>apns-push-type</c>, <c>apns-priority</c>, <c>apns-expiration</c>, <c>apns-collapse-id</c> when set, and
/// <c>apns-id</c>: the delivery id's UUID (a <c>dlv_</c> id carries one; any other id is hashed into a version-8 UUID),
/// the same on every attempt so Apple's records can be matched to the delivery.
/// </para>
/// <para>
/// Body: <c>{"aps":{"alert":{"title","body"},"mutable-content":1,"category":…},…data…,"image":…}</c>.
/// <c>mutable-content</c> is sent when there is an image or actions, so a notification service extension can download
/// the image. APNs cannot define buttons from the server: the app registers a <c>UNNotificationCategory</c> whose
/// identifier is sent as <c>category</c>. It is the <c>category</c> data key when present (then not repeated at the top
/// level), else the first action's id. Other data keys are written at the top level; <c>aps</c> is reserved.
/// </para>
/// <para>
/// Replies: 410 (Unregistered, ExpiredToken) and 400 BadDeviceToken or DeviceTokenNotForTopic are
/// <see cref="AttemptErrorKind.InvalidRecipient"/> with the reason "{status} {reason}" (Apple also answers
/// BadDeviceToken when a development token is sent to production: check <see cref="ApnsPushOptions.Environment"/>).
/// 403 ExpiredProviderToken makes a new token, when the current one is at least 20 minutes old, and sends again once;
/// 429 and 5xx are retried with Retry-After; other statuses are permanent with Apple's reason.
/// </para>
/// </summary>
public sealed class ApnsPushProvider(IHttpClientFactory clients, TimeProvider time, IOptions<ApnsPushOptions> options) : IPushProvider, IDisposable
{
    /// <summary>The largest payload APNs accepts for an alert.</summary>
    public const int MaxPayloadBytes = 4096;

    private const int ReplyLimit = 1024;
    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");
    private static readonly SearchValues<char> Letters = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    private readonly Lock _gate = new();
    private ECDsa? _key;
    private ApnsProviderToken? _tokens;

    /// <inheritdoc />
    public string Name => "apns";

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(PushMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        ApnsPushOptions settings;
        try
        {
            settings = options.Value;
        }
        catch (OptionsValidationException ex)
        {
            return Failed(AttemptOutcome.Permanent, null, $"apns is not configured: {ex.Message}");
        }

        if (Tokens(settings, out var keyError) is not { } tokens) return Failed(AttemptOutcome.Permanent, null, "apns: " + keyError);
        if (message.Target.Kind is not ("deviceToken" or "token"))
        {
            return Failed(AttemptOutcome.Permanent, null, $"{message.Describe}: apns sends to a 'deviceToken', but the notification sets '{message.Target.Kind}'.");
        }

        var deviceToken = message.Target.Value;
        if (deviceToken.Length is 0 or > 200 || deviceToken.AsSpan().ContainsAnyExcept(HexDigits))
        {
            return Failed(AttemptOutcome.Permanent, null,
                $"{message.Describe}, field 'deviceToken': the rendered value ({deviceToken.Length} characters) is not a hexadecimal APNs device token; check the template.");
        }

        var (payload, payloadError) = CreatePayload(message);
        if (payload is null) return Failed(AttemptOutcome.Permanent, null, $"{message.Describe}: {payloadError}");
        try
        {
            var token = tokens.Current();
            var reply = await PostAsync(settings, Topic(message, settings), deviceToken, payload, deliveryId, token, cancellationToken).ConfigureAwait(false);
            if (reply is { Status: 403, Reason: "ExpiredProviderToken" })
            {
                if (tokens.Renew(token) is not { } renewed)
                {
                    // Renewing again this soon would earn TooManyProviderTokenUpdates; wait until it is allowed.
                    var age = time.GetUtcNow() - token.IssuedAt;
                    return Failed(AttemptOutcome.Retry, 403,
                        $"apns: 403 ExpiredProviderToken for a provider token issued {Math.Max(0, (int)age.TotalMinutes)} min ago; check this server's clock. A new token is made once the current one is 20 minutes old.",
                        ApnsProviderToken.MinimumAge - age);
                }

                reply = await PostAsync(settings, Topic(message, settings), deviceToken, payload, deliveryId, renewed, cancellationToken).ConfigureAwait(false);
            }

            return Classify(reply);
        }
        catch (HttpRequestException ex) when (ExceptionChain.Find<DestinationRefusedException>(ex) is { } refused)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.DestinationRefused, "apns: " + refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"apns: {ex.Message}");
        }
    }

    /// <summary>
    /// The JSON payload of a message (see the class remarks for the layout), or an error when it cannot be sent:
    /// a reserved data key or more than <see cref="MaxPayloadBytes"/> bytes.
    /// </summary>
    public static (byte[]? Payload, string? Error) CreatePayload(PushMessage message)
    {
        if (message.Data.ContainsKey("aps")) return (null, "the data key 'aps' is reserved by APNs; rename it.");
        if (message.Image is not null && message.Data.ContainsKey("image")) return (null, "the data key 'image' clashes with the notification's image; rename it.");
        var category = message.Data.TryGetValue("category", out var named) ? named : message.Actions.Count > 0 ? message.Actions[0].Id : null;
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("aps");
            if (message.Title is not null || message.Body is not null)
            {
                json.WriteStartObject("alert");
                if (message.Title is not null) json.WriteString("title", message.Title);
                if (message.Body is not null) json.WriteString("body", message.Body);
                json.WriteEndObject();
            }

            if (message.Image is not null || message.Actions.Count > 0) json.WriteNumber("mutable-content", 1);
            if (category is not null) json.WriteString("category", category);
            json.WriteEndObject();
            foreach (var (key, value) in message.Data)
            {
                if (key != "category") json.WriteString(key, value);
            }

            if (message.Image is not null) json.WriteString("image", message.Image);
            json.WriteEndObject();
        }

        return buffer.WrittenCount > MaxPayloadBytes
            ? (null, $"the APNs payload is {buffer.WrittenCount} bytes; APNs accepts at most {MaxPayloadBytes}. Shorten the body or the data.")
            : (buffer.WrittenSpan.ToArray(), null);
    }

    /// <summary>
    /// The <c>apns-id</c> of a delivery: the UUID inside a <c>dlv_</c> id or a UUID id itself; any other id becomes a
    /// version-8 UUID made from its SHA-256, so every attempt of one delivery carries the same id.
    /// </summary>
    public static string ApnsId(string deliveryId)
    {
        if (deliveryId.StartsWith("dlv_", StringComparison.Ordinal) && Guid.TryParseExact(deliveryId.AsSpan(4), "N", out var inner)) return inner.ToString("D");
        if (Guid.TryParse(deliveryId, out var plain)) return plain.ToString("D");
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(deliveryId), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true).ToString("D");
    }

    private ApnsProviderToken? Tokens(ApnsPushOptions settings, out string? error)
    {
        lock (_gate)
        {
            error = null;
            if (_tokens is not null) return _tokens;
            _key = settings.LoadKey(out error);
            return _key is null ? null : _tokens = new ApnsProviderToken(_key, settings.KeyId.Trim(), settings.TeamId.Trim(), time);
        }
    }

    /// <summary>The notification's <c>topic:</c> when the YAML gives one (another app of the team), else BundleId.</summary>
    private static string Topic(PushMessage message, ApnsPushOptions settings) =>
        message.Options.TryGetValue("topic", out var topic) && !string.IsNullOrWhiteSpace(topic) ? topic.Trim() : settings.BundleId.Trim();

    private async Task<Reply> PostAsync(ApnsPushOptions settings, string topic, string deviceToken, byte[] payload, string deliveryId, ApnsProviderToken.Issued token, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(settings.Server, "3/device/" + deviceToken))
        {
            // APNs speaks only HTTP/2; over http:// (tests) this is prior-knowledge h2c.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(payload),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("bearer", token.Jwt);
        request.Headers.TryAddWithoutValidation("apns-topic", topic);
        request.Headers.TryAddWithoutValidation("apns-push-type", settings.PushType.Trim());
        request.Headers.TryAddWithoutValidation("apns-priority", settings.Priority.ToString(CultureInfo.InvariantCulture));
        var expiration = settings.Expiration is { } keep ? (time.GetUtcNow() + keep).ToUnixTimeSeconds() : 0;
        request.Headers.TryAddWithoutValidation("apns-expiration", expiration.ToString(CultureInfo.InvariantCulture));
        if (settings.CollapseId is { Length: > 0 } collapse) request.Headers.TryAddWithoutValidation("apns-collapse-id", collapse);
        request.Headers.TryAddWithoutValidation("apns-id", ApnsId(deliveryId));

        using var response = await clients.CreateClient(WebhookChannel.HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        if (status is >= 200 and < 300) return new Reply(status, null, null);
        var reason = ReadReason(await ProviderReply.ReadBytesAsync(response.Content, cancellationToken, ReplyLimit).ConfigureAwait(false));
        TimeSpan? retryAfter = response.Headers.RetryAfter is { } header ? header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null) : null;
        return new Reply(status, reason, retryAfter);
    }

    private static AttemptResult Classify(Reply reply)
    {
        var (status, reason, retryAfter) = reply;
        if (status is >= 200 and < 300) return AttemptResult.Delivered(status);
        var said = reason ?? "(no reason)";
        if (status == 410 || (status == 400 && reason is "BadDeviceToken" or "DeviceTokenNotForTopic"))
        {
            return new AttemptResult(AttemptOutcome.Permanent, status, AttemptErrorKind.InvalidRecipient, $"{status} {reason ?? "Unregistered"}");
        }

        if (status == 429 || status >= 500) return Failed(AttemptOutcome.Retry, status, $"apns: {status} {said}", retryAfter);
        var hint = reason switch
        {
            "ExpiredProviderToken" => "; the provider token was renewed and still refused: check this server's clock",
            "InvalidProviderToken" or "MissingProviderToken" => "; check ApnsPushOptions.KeyId, TeamId and the private key: the key must belong to the team and have APNs enabled",
            "BadTopic" or "TopicDisallowed" or "MissingTopic" => "; check ApnsPushOptions.BundleId",
            "BadCollapseId" => "; check ApnsPushOptions.CollapseId",
            "BadExpirationDate" => "; check ApnsPushOptions.Expiration",
            "BadPriority" => "; check ApnsPushOptions.Priority",
            "InvalidPushType" => "; check ApnsPushOptions.PushType",
            "PayloadTooLarge" => "; shorten the body or the data",
            "BadPath" or "MethodNotAllowed" => "; check ApnsPushOptions.BaseAddress",
            _ => string.Empty,
        };
        return Failed(AttemptOutcome.Permanent, status, $"apns: {status} {said}{hint}");
    }

    private static AttemptResult Failed(AttemptOutcome outcome, int? status, string error, TimeSpan? retryAfter = null) =>
        new(outcome, status, AttemptErrorKind.Provider, error, retryAfter);

    /// <summary>Apple's <c>{"reason":"…"}</c>, kept only when it looks like one of Apple's reason names.</summary>
    private static string? ReadReason(byte[] body)
    {
        if (body.Length == 0) return null;
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("reason", out var reason)
                && reason.ValueKind == JsonValueKind.String
                && reason.GetString() is { Length: > 0 and <= 64 } text
                && !text.AsSpan().ContainsAnyExcept(Letters)
                ? text
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Releases the signing key.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _key?.Dispose();
        }
    }

    private sealed record Reply(int Status, string? Reason, TimeSpan? RetryAfter);
}
