using System.Net.Http.Headers;
using System.Text.Json;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Webhooks;

namespace Conductor.Sdk.Email;

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
