using System.Buffers;
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

/// <summary>Settings of <c>provider: firebase</c>. Credentials come from configuration only and are never logged.</summary>
public sealed class FirebasePushOptions
{
    /// <summary>The service-account key JSON (its content), as downloaded from the Firebase console.</summary>
    public string? ServiceAccountJson { get; set; }

    /// <summary>The path of the service-account key file, instead of <see cref="ServiceAccountJson"/>.</summary>
    public string? ServiceAccountFile { get; set; }

    /// <summary>The Firebase project id; default: the key's <c>project_id</c>.</summary>
    public string? ProjectId { get; set; }

    /// <summary>The FCM API's base address; tests point it at loopback.</summary>
    public Uri BaseAddress { get; set; } = new("https://fcm.googleapis.com/");

    /// <summary>The OAuth token endpoint; default: the key's <c>token_uri</c>.</summary>
    public Uri? TokenEndpoint { get; set; }

    internal FirebaseServiceAccount? LoadAccount(out string? error)
    {
        error = null;
        string json;
        var hasJson = !string.IsNullOrWhiteSpace(ServiceAccountJson);
        var hasFile = !string.IsNullOrWhiteSpace(ServiceAccountFile);
        if (hasJson == hasFile)
        {
            error = hasJson
                ? "FirebasePushOptions.ServiceAccountJson and ServiceAccountFile are both set; keep one."
                : "FirebasePushOptions.ServiceAccountJson (the service-account key's JSON) or ServiceAccountFile (its path) must be set.";
            return null;
        }

        try
        {
            json = hasJson ? ServiceAccountJson! : File.ReadAllText(ServiceAccountFile!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"FirebasePushOptions.ServiceAccountFile '{ServiceAccountFile}' cannot be read: {ex.GetType().Name}.";
            return null;
        }

        return FirebaseServiceAccount.Parse(json, ProjectId, TokenEndpoint, out error);
    }
}

/// <summary>The parts of a service-account key the provider uses. <see cref="ToString"/> never shows the key.</summary>
internal sealed class FirebaseServiceAccount : IDisposable
{
    private FirebaseServiceAccount(string projectId, string clientEmail, string? keyId, Uri tokenEndpoint, RSA key)
    {
        ProjectId = projectId;
        ClientEmail = clientEmail;
        KeyId = keyId;
        TokenEndpoint = tokenEndpoint;
        Key = key;
    }

    public string ProjectId { get; }
    public string ClientEmail { get; }
    public string? KeyId { get; }
    public Uri TokenEndpoint { get; }
    public RSA Key { get; }

    public static FirebaseServiceAccount? Parse(string json, string? projectId, Uri? tokenEndpoint, out string? error)
    {
        const string What = "the Firebase service-account key";
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            string? Text(string name) => root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var email = Text("client_email");
            var pem = Text("private_key");
            var project = string.IsNullOrWhiteSpace(projectId) ? Text("project_id") : projectId;
            var endpointText = Text("token_uri");
            var endpoint = tokenEndpoint ?? (Uri.TryCreate(endpointText, UriKind.Absolute, out var parsed) ? parsed : new Uri("https://oauth2.googleapis.com/token"));
            var missing = new[] { ("client_email", email), ("private_key", pem), ("project_id (or FirebasePushOptions.ProjectId)", project) }.Where(f => string.IsNullOrWhiteSpace(f.Item2)).Select(f => f.Item1).ToList();
            if (missing.Count > 0)
            {
                error = $"{What} has no {string.Join(", ", missing)}; use the JSON key file created under Project settings → Service accounts.";
                return null;
            }

            var key = RSA.Create();
            try
            {
                key.ImportFromPem(pem);
                key.ExportParameters(includePrivateParameters: true); // a public key imports but cannot sign
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                key.Dispose();
                error = $"{What}'s private_key is not an RSA private key in PEM form.";
                return null;
            }

            error = null;
            return new FirebaseServiceAccount(project!, email!, Text("private_key_id"), endpoint, key);
        }
        catch (JsonException)
        {
            error = $"{What} is not valid JSON.";
            return null;
        }
    }

    public void Dispose() => Key.Dispose();

    public override string ToString() => $"service account {ClientEmail} (project {ProjectId})";
}

/// <summary>Checks <see cref="FirebasePushOptions"/> when the host starts; key material never appears in the messages.</summary>
internal sealed class FirebasePushOptionsValidator : IValidateOptions<FirebasePushOptions>
{
    public ValidateOptionsResult Validate(string? name, FirebasePushOptions options)
    {
        using var account = options.LoadAccount(out var error);
        var failures = new List<string>();
        if (error is not null) failures.Add(error);
        if (!options.BaseAddress.IsAbsoluteUri || options.BaseAddress.Scheme is not ("https" or "http"))
        {
            failures.Add($"FirebasePushOptions.BaseAddress '{options.BaseAddress}' must be an absolute https address.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// OAuth 2.0 access tokens for FCM from a service-account key: an RS256-signed JWT (iss = client_email, scope
/// firebase.messaging, aud = token endpoint, one hour) exchanged with the jwt-bearer grant. A token is reused until five
/// minutes before it expires (by the injected clock); one refresh runs at a time.
/// </summary>
internal sealed class FirebaseAccessTokens(IHttpClientFactory clients, TimeProvider time)
{
    public const string Scope = "https://www.googleapis.com/auth/firebase.messaging";
    private static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private sealed record Cached(string Token, DateTimeOffset Expires, string Account);

    // Replaced as a whole (one reference), so a reader never sees a token with another token's expiry.
    private volatile Cached? _current;

    /// <summary>A valid token, fetched when none is cached or the cached one is near expiry (or was rejected).</summary>
    public async Task<string> GetAsync(FirebaseServiceAccount account, string? rejected, CancellationToken cancellationToken)
    {
        if (Usable(account, rejected) is { } cached) return cached;
        await _refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Usable(account, rejected) is { } fresh) return fresh;
            var now = time.GetUtcNow();
            using var request = new HttpRequestMessage(HttpMethod.Post, account.TokenEndpoint)
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    ["assertion"] = Assertion(account, now),
                }),
            };
            using var response = await clients.CreateClient(WebhookChannel.HttpClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
            var body = await ProviderReply.ReadTextAsync(response.Content, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new FirebaseTokenException((int)response.StatusCode, RetrySchedule.Classify(response.StatusCode), OAuthError(body));
            }

            using var document = JsonDocument.Parse(body);
            var token = document.RootElement.GetProperty("access_token").GetString() ?? throw new FirebaseTokenException(200, AttemptOutcome.Retry, "no access_token in the reply");
            var lifetime = document.RootElement.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) ? seconds : 3600;
            _current = new Cached(token, now.AddSeconds(lifetime), account.ClientEmail);
            return token;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FirebaseTokenException(200, AttemptOutcome.Retry, "the token endpoint's reply is not the expected JSON");
        }
        finally
        {
            _refresh.Release();
        }
    }

    private string? Usable(FirebaseServiceAccount account, string? rejected) =>
        _current is { } current && current.Account == account.ClientEmail && current.Token != rejected && time.GetUtcNow() < current.Expires - RefreshMargin
            ? current.Token
            : null;

    /// <summary>The signed JWT assertion (RFC 7523).</summary>
    public static string Assertion(FirebaseServiceAccount account, DateTimeOffset now)
    {
        var header = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteString("alg", "RS256");
            json.WriteString("typ", "JWT");
            if (account.KeyId is { } kid) json.WriteString("kid", kid);
            json.WriteEndObject();
        }

        var claims = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(claims))
        {
            json.WriteStartObject();
            json.WriteString("iss", account.ClientEmail);
            json.WriteString("scope", Scope);
            json.WriteString("aud", account.TokenEndpoint.AbsoluteUri);
            json.WriteNumber("iat", now.ToUnixTimeSeconds());
            json.WriteNumber("exp", now.AddHours(1).ToUnixTimeSeconds());
            json.WriteEndObject();
        }

        var signingInput = Base64Url(header.WrittenSpan) + "." + Base64Url(claims.WrittenSpan);
        var signature = account.Key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The OAuth error code and description (never the assertion).</summary>
    private static string OAuthError(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var code = root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            var description = root.TryGetProperty("error_description", out var d) ? d.GetString() : null;
            return $"{code} {description}".Trim();
        }
        catch (JsonException)
        {
            return "unexpected reply";
        }
    }
}

/// <summary>The token endpoint refused or failed.</summary>
internal sealed class FirebaseTokenException(int status, AttemptOutcome outcome, string reason) : Exception(reason)
{
    public int Status { get; } = status;
    public AttemptOutcome Outcome { get; } = outcome;
}

/// <summary>
/// <c>provider: firebase</c>: FCM HTTP v1, <c>POST /v1/projects/{project}/messages:send</c> with a bearer token from the
/// service-account key. The message carries the one target (<c>token</c>, <c>topic</c> or <c>condition</c>),
/// <c>notification</c> {title, body, image}, <c>data</c>, and platform overrides that make it rich: <c>android</c>
/// (image; the first action as <c>click_action</c>), <c>apns</c> (<c>mutable-content</c>, the first action id as
/// <c>category</c>, <c>fcm_options.image</c>) and <c>webpush</c> (image and action buttons).
/// Errors: <c>UNREGISTERED</c> (and 404) is an invalid token — permanent, reported to <see cref="IPushTokenInvalidated"/>;
/// <c>QUOTA_EXCEEDED</c>/429, <c>UNAVAILABLE</c>/503 and <c>INTERNAL</c>/500 are retried (Retry-After honoured); a 401 drops
/// the cached access token and retries once at once; other errors are permanent with FCM's reason.
/// </summary>
public sealed class FirebasePushProvider : IPushProvider
{
    private readonly IHttpClientFactory _clients;
    private readonly IOptions<FirebasePushOptions> _options;
    private readonly TimeProvider _time;
    private readonly FirebaseAccessTokens _tokens;
    private readonly Lazy<(FirebaseServiceAccount? Account, string? Error)> _account;

    /// <summary>Creates the provider.</summary>
    public FirebasePushProvider(IHttpClientFactory clients, IOptions<FirebasePushOptions> options, TimeProvider time)
    {
        _clients = clients;
        _options = options;
        _time = time;
        _tokens = new FirebaseAccessTokens(clients, time);
        _account = new(() =>
        {
            try
            {
                var account = options.Value.LoadAccount(out var error);
                return (account, error);
            }
            catch (OptionsValidationException ex)
            {
                return (null, ex.Message);
            }
        });
    }

    /// <inheritdoc />
    public string Name => "firebase";

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(PushMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        var (account, accountError) = _account.Value;
        if (account is null) return Fail(AttemptOutcome.Permanent, null, $"firebase is not configured: {accountError}");
        if (message.Target.Kind is not ("token" or "topic" or "condition"))
        {
            return Fail(AttemptOutcome.Permanent, null, $"{message.Describe}: firebase sends to a 'token', 'topic' or 'condition', but the notification sets '{message.Target.Kind}'.");
        }

        var body = CreateBody(message);
        var address = new Uri(_options.Value.BaseAddress, $"v1/projects/{Uri.EscapeDataString(account.ProjectId)}/messages:send");
        try
        {
            var token = await _tokens.GetAsync(account, null, cancellationToken).ConfigureAwait(false);
            var reply = await PostAsync(address, token, body, cancellationToken).ConfigureAwait(false);
            if (reply.Status == 401)
            {
                // The token may have been revoked or expired early: fetch a new one and try once more.
                token = await _tokens.GetAsync(account, token, cancellationToken).ConfigureAwait(false);
                reply = await PostAsync(address, token, body, cancellationToken).ConfigureAwait(false);
            }

            return Classify(reply, message.Target.Kind);
        }
        catch (FirebaseTokenException ex)
        {
            return Fail(ex.Outcome, ex.Status, $"firebase: the OAuth token endpoint answered {ex.Status}: {ex.Message}" +
                (ex.Outcome == AttemptOutcome.Permanent ? "; check the service-account key (it may be deleted or disabled)" : ""));
        }
        catch (HttpRequestException ex) when (ExceptionChain.Find<DestinationRefusedException>(ex) is { } refused)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.DestinationRefused, "firebase: " + refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"firebase: {ex.Message}");
        }
    }

    private sealed record Reply(int Status, string Body, TimeSpan? RetryAfter);

    private async Task<Reply> PostAsync(Uri address, string token, byte[] body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, address) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await _clients.CreateClient(WebhookChannel.HttpClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
        var text = await ProviderReply.ReadTextAsync(response.Content, cancellationToken).ConfigureAwait(false);
        var retryAfter = RetrySchedule.ParseRetryAfter(response.Headers.TryGetValues("Retry-After", out var values) ? values.FirstOrDefault() : null, _time.GetUtcNow());
        return new Reply((int)response.StatusCode, text, retryAfter);
    }

    /// <summary>A 404 means an unregistered token only for token targets; for a topic or condition it is a plain error.</summary>
    private static AttemptResult Classify(Reply reply, string targetKind)
    {
        if (reply.Status is >= 200 and < 300) return AttemptResult.Delivered(reply.Status);
        var (status, code, text) = Error(reply.Body);
        var reason = string.Join(" ", new[] { code ?? status, text }.Where(s => !string.IsNullOrEmpty(s)));
        if (code == "UNREGISTERED" || (reply.Status == 404 && code is null or "NOT_FOUND" && targetKind == "token"))
        {
            return new AttemptResult(AttemptOutcome.Permanent, reply.Status, AttemptErrorKind.InvalidRecipient, $"UNREGISTERED ({reply.Status}): the token is no longer valid");
        }

        // FCM answers a malformed or foreign token with INVALID_ARGUMENT and says so in the message.
        if (code == "INVALID_ARGUMENT" && targetKind == "token" && text?.Contains("registration token", StringComparison.OrdinalIgnoreCase) == true)
        {
            return new AttemptResult(AttemptOutcome.Permanent, reply.Status, AttemptErrorKind.InvalidRecipient, $"INVALID_ARGUMENT ({reply.Status}): {text}");
        }

        var retry = reply.Status is 429 or 500 or 502 or 503 or 504 || code is "QUOTA_EXCEEDED" or "UNAVAILABLE" or "INTERNAL";
        var hint = code switch
        {
            "SENDER_ID_MISMATCH" => "; the token belongs to another Firebase project than the service account's",
            "THIRD_PARTY_AUTH_ERROR" => "; the APNs certificate or web push key in the Firebase project is invalid",
            "INVALID_ARGUMENT" => "; check the target and the data (values must be text, keys not reserved)",
            _ => "",
        };
        return new AttemptResult(retry ? AttemptOutcome.Retry : AttemptOutcome.Permanent, reply.Status, AttemptErrorKind.Provider,
            $"firebase: HTTP {reply.Status} {reason}{hint}".TrimEnd(), retry ? reply.RetryAfter : null);
    }

    /// <summary>FCM's error JSON: <c>{"error":{"status":…,"message":…,"details":[{"errorCode":…}]}}</c>.</summary>
    private static (string? Status, string? Code, string? Message) Error(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (!document.RootElement.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object) return (null, null, null);
            var status = error.TryGetProperty("status", out var s) ? s.GetString() : null;
            var message = error.TryGetProperty("message", out var m) ? m.GetString() : null;
            string? code = null;
            if (error.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
            {
                foreach (var detail in details.EnumerateArray())
                {
                    if (detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty("errorCode", out var c)) code = c.GetString();
                }
            }

            return (status, code ?? status, message);
        }
        catch (JsonException)
        {
            return (null, null, null);
        }
    }

    /// <summary>The request body for one message (public so that tools and tests can show it).</summary>
    public static byte[] CreateBody(PushMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("message");
            var target = message.Target.Kind == "topic" && message.Target.Value.StartsWith("/topics/", StringComparison.Ordinal)
                ? message.Target.Value["/topics/".Length..]
                : message.Target.Value;
            json.WriteString(message.Target.Kind, target);
            if (message.Title is not null || message.Body is not null || message.Image is not null)
            {
                json.WriteStartObject("notification");
                if (message.Title is { } title) json.WriteString("title", title);
                if (message.Body is { } text) json.WriteString("body", text);
                if (message.Image is { } image) json.WriteString("image", image);
                json.WriteEndObject();
            }

            if (message.Data.Count > 0)
            {
                json.WriteStartObject("data");
                foreach (var (key, value) in message.Data) json.WriteString(key, value);
                json.WriteEndObject();
            }

            var firstAction = message.Actions.Count > 0 ? message.Actions[0].Id : null;
            if (message.Image is not null || firstAction is not null)
            {
                json.WriteStartObject("android");
                json.WriteStartObject("notification");
                if (message.Image is { } image) json.WriteString("image", image);
                if (firstAction is not null) json.WriteString("click_action", firstAction);
                json.WriteEndObject();
                json.WriteEndObject();

                json.WriteStartObject("apns");
                json.WriteStartObject("payload");
                json.WriteStartObject("aps");
                json.WriteNumber("mutable-content", 1);
                if (firstAction is not null) json.WriteString("category", firstAction);
                json.WriteEndObject();
                json.WriteEndObject();
                if (message.Image is { } apnsImage)
                {
                    json.WriteStartObject("fcm_options");
                    json.WriteString("image", apnsImage);
                    json.WriteEndObject();
                }

                json.WriteEndObject();

                json.WriteStartObject("webpush");
                json.WriteStartObject("notification");
                if (message.Image is { } webImage) json.WriteString("image", webImage);
                if (message.Actions.Count > 0)
                {
                    json.WriteStartArray("actions");
                    foreach (var action in message.Actions)
                    {
                        json.WriteStartObject();
                        json.WriteString("action", action.Id);
                        json.WriteString("title", action.Title);
                        json.WriteEndObject();
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static AttemptResult Fail(AttemptOutcome outcome, int? status, string error) => new(outcome, status, AttemptErrorKind.Provider, error);
}
