using Conductor.Sdk.Channels;

namespace Conductor.Sdk.Email;

/// <summary>Sends an <see cref="EmailMessage"/> somewhere: SMTP, an HTTP API, or a folder.</summary>
public interface IEmailProvider
{
    /// <summary>The <c>provider:</c> name: smtp, resend, cloudflare or file.</summary>
    string Name { get; }

    /// <summary>Sends one message; <paramref name="deliveryId"/> is the idempotency key. Never throws for a delivery failure.</summary>
    ValueTask<AttemptResult> SendAsync(EmailMessage message, string deliveryId, CancellationToken cancellationToken);
}
