using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Webhooks;

namespace Conductor.Sdk.Email;

/// <summary>Settings of the Resend provider.</summary>
public sealed class ResendEmailOptions
{
    /// <summary>The API key (from configuration; never logged).</summary>
    public string ApiKey { get; set; } = string.Empty;

    /// <summary>The API's base address; tests point it at loopback.</summary>
    public Uri BaseAddress { get; set; } = new("https://api.resend.com/");
}

/// <summary>Settings of the Cloudflare Email Service provider.</summary>
public sealed class CloudflareEmailOptions
{
    /// <summary>The Cloudflare account that owns the sending domain.</summary>
    public string AccountId { get; set; } = string.Empty;

    /// <summary>An API token with the Send Email permission (from configuration; never logged).</summary>
    public string ApiToken { get; set; } = string.Empty;

    /// <summary>The API's base address; tests point it at loopback.</summary>
    public Uri BaseAddress { get; set; } = new("https://api.cloudflare.com/");
}

/// <summary>
/// An email provider behind an HTTP API: 2xx delivers; 429 and 5xx are retried (Retry-After honoured); other 4xx are
/// permanent and the provider's reply is kept with the dead letter.
/// </summary>
public abstract class HttpEmailProvider(IHttpClientFactory clients, TimeProvider time) : IEmailProvider
{
    private const int ReplyLimit = 1024;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <summary>Builds the provider's request for one message.</summary>
    protected abstract HttpRequestMessage CreateRequest(EmailMessage message, string deliveryId);

    /// <summary>Checks a 2xx reply; returns an error when the provider says it failed anyway.</summary>
    protected virtual string? CheckSuccess(string reply) => null;

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(EmailMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        using var request = CreateRequest(message, deliveryId);
        try
        {
            using var response = await clients.CreateClient(WebhookChannel.HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var reply = await ReadReplyAsync(response, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var outcome = RetrySchedule.Classify(response.StatusCode);
            if (status is >= 300 and < 400) outcome = AttemptOutcome.Permanent; // an API never redirects a send
            if (outcome == AttemptOutcome.Delivered)
            {
                return CheckSuccess(reply) is { } failure
                    ? new AttemptResult(AttemptOutcome.Permanent, status, AttemptErrorKind.Provider, $"{Name}: {failure}")
                    : AttemptResult.Delivered(status);
            }

            TimeSpan? retryAfter = response.Headers.RetryAfter is { } header ? header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null) : null;
            return new AttemptResult(outcome, status, AttemptErrorKind.Provider, $"{Name}: HTTP {status} {reply}".TrimEnd(), retryAfter);
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"{Name}: {ex.Message}");
        }
    }

    private static async Task<string> ReadReplyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await ProviderReply.ReadTextAsync(response.Content, cancellationToken, ReplyLimit).ConfigureAwait(false);
        return EmailMessage.SingleLine(text);
    }

    /// <summary>
    /// The JSON both APIs take: from, to, subject, html, text and headers (with the delivery id), sent with a bearer token.
    /// </summary>
    protected static HttpRequestMessage MessageRequest(Uri address, string token, EmailMessage message, string deliveryId)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("from", message.From);
            json.WriteStartArray("to");
            foreach (var to in message.To) json.WriteStringValue(to);
            json.WriteEndArray();
            if (message.Cc.Count > 0)
            {
                json.WriteStartArray("cc");
                foreach (var cc in message.Cc) json.WriteStringValue(cc);
                json.WriteEndArray();
            }

            if (message.Bcc.Count > 0)
            {
                json.WriteStartArray("bcc");
                foreach (var bcc in message.Bcc) json.WriteStringValue(bcc);
                json.WriteEndArray();
            }

            if (message.ReplyTo is { } replyTo) json.WriteString("reply_to", replyTo);
            json.WriteString("subject", message.Subject);
            json.WriteString("html", message.Html);
            json.WriteString("text", message.Text);
            json.WriteStartObject("headers");
            json.WriteString("X-Conductor-Delivery-Id", deliveryId);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        var request = new HttpRequestMessage(HttpMethod.Post, address) { Content = new ByteArrayContent(buffer.WrittenSpan.ToArray()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }
}

/// <summary><c>provider: resend</c>: <c>POST /emails</c>, the delivery id as <c>Idempotency-Key</c>.</summary>
public sealed class ResendEmailProvider(IHttpClientFactory clients, TimeProvider time, Microsoft.Extensions.Options.IOptions<ResendEmailOptions> options)
    : HttpEmailProvider(clients, time)
{
    /// <inheritdoc />
    public override string Name => "resend";

    /// <inheritdoc />
    protected override HttpRequestMessage CreateRequest(EmailMessage message, string deliveryId)
    {
        var settings = options.Value;
        var request = MessageRequest(new Uri(settings.BaseAddress, "emails"), settings.ApiKey, message, deliveryId);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", deliveryId);
        return request;
    }
}

/// <summary><c>provider: cloudflare</c>: Cloudflare Email Service, <c>POST /client/v4/accounts/{account}/email/sending/send</c>.</summary>
public sealed class CloudflareEmailProvider(IHttpClientFactory clients, TimeProvider time, Microsoft.Extensions.Options.IOptions<CloudflareEmailOptions> options)
    : HttpEmailProvider(clients, time)
{
    /// <inheritdoc />
    public override string Name => "cloudflare";

    /// <inheritdoc />
    protected override HttpRequestMessage CreateRequest(EmailMessage message, string deliveryId)
    {
        var settings = options.Value;
        var address = new Uri(settings.BaseAddress, $"client/v4/accounts/{Uri.EscapeDataString(settings.AccountId)}/email/sending/send");
        return MessageRequest(address, settings.ApiToken, message, deliveryId);
    }

    /// <summary>Cloudflare wraps results in <c>{success, errors, ...}</c> and may say <c>success: false</c> with HTTP 200.</summary>
    protected override string? CheckSuccess(string reply)
    {
        try
        {
            using var document = JsonDocument.Parse(reply);
            return document.RootElement.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False
                ? "the API answered success: false " + (document.RootElement.TryGetProperty("errors", out var errors) ? errors.GetRawText() : string.Empty)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
