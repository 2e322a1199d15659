namespace Conductor.Sdk.Email;

/// <summary>Settings of the Resend provider.</summary>
public sealed class ResendEmailOptions
{
    /// <summary>The API key (from configuration; never logged).</summary>
    public string ApiKey { get; set; } = string.Empty;

    /// <summary>The API's base address; tests point it at loopback.</summary>
    public Uri BaseAddress { get; set; } = new("https://api.resend.com/");
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
