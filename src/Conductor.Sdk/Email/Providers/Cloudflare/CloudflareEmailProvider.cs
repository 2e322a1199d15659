using System.Text.Json;

namespace Conductor.Sdk.Email;

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
