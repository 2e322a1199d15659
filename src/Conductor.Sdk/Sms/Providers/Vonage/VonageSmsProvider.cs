using System.Text.Json;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Sms;

/// <summary>Settings of the Vonage provider (credentials from configuration; never logged).</summary>
public sealed class VonageSmsOptions
{
    /// <summary>The API key.</summary>
    public string ApiKey { get; set; } = string.Empty;

    /// <summary>The API secret.</summary>
    public string ApiSecret { get; set; } = string.Empty;

    /// <summary>The API's base address; tests point it at loopback.</summary>
    public Uri BaseAddress { get; set; } = new("https://rest.nexmo.com/");
}

/// <summary>
/// <c>provider: vonage</c>: <c>POST /sms/json</c> (form fields api_key, api_secret, from, to without '+', text);
/// accepted when <c>messages[0].status</c> is "0". Throttling (status 1) and HTTP 429/5xx are retried; other statuses
/// are permanent with the provider's error text.
/// </summary>
public sealed class VonageSmsProvider(IHttpClientFactory clients, IOptions<VonageSmsOptions> options) : ISmsProvider
{
    /// <inheritdoc />
    public string Name => "vonage";

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(SmsMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(settings.BaseAddress, "sms/json"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["api_key"] = settings.ApiKey,
                ["api_secret"] = settings.ApiSecret,
                ["from"] = message.From.TrimStart('+'),
                ["to"] = message.To.TrimStart('+'),
                ["text"] = message.Body,
                ["client-ref"] = deliveryId,
            }),
        };
        try
        {
            using var response = await clients.CreateClient(WebhookChannel.HttpClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var text = await ProviderReply.ReadTextAsync(response.Content, cancellationToken).ConfigureAwait(false);
            if (RetrySchedule.Classify(response.StatusCode) != AttemptOutcome.Delivered)
            {
                return new AttemptResult(RetrySchedule.Classify(response.StatusCode), status, AttemptErrorKind.Provider, $"vonage: HTTP {status}");
            }

            using var document = JsonDocument.Parse(text);
            var first = document.RootElement.GetProperty("messages")[0];
            var code = first.GetProperty("status").GetString();
            if (code == "0") return AttemptResult.Delivered(status);
            var reason = first.TryGetProperty("error-text", out var e) ? e.GetString() : null;
            var outcome = code == "1" ? AttemptOutcome.Retry : AttemptOutcome.Permanent; // 1 = throttled
            return new AttemptResult(outcome, status, AttemptErrorKind.Provider, $"vonage: status {code} {reason}".TrimEnd());
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"vonage: {ex.Message}");
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or IndexOutOfRangeException or InvalidOperationException)
        {
            // Only a 2xx reply is parsed: the text may already be sent, so it is not sent again on our own.
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, "vonage: unexpected reply to an accepted request (the message may have been sent; replay the delivery if it was not)");
        }
    }
}
