namespace Conductor.Sdk.Twilio;

/// <summary>
/// Settings of <c>provider: twilio</c> (credentials from configuration; never logged). An <c>operation: sms</c> step can
/// override <see cref="AccountSid"/>, <see cref="AuthToken"/> and <see cref="MessagingServiceSid"/> per message through
/// its <c>config:</c> keys <c>accountSid</c>, <c>authToken</c> and <c>messagingServiceSid</c>.
/// </summary>
public sealed class TwilioSmsOptions
{
    /// <summary>The account SID (<c>AC…</c>): the Basic-auth user and the account the message is created in.</summary>
    public string AccountSid { get; set; } = string.Empty;

    /// <summary>The auth token: the Basic-auth password. A secret: it never appears in logs or delivery errors.</summary>
    public string AuthToken { get; set; } = string.Empty;

    /// <summary>
    /// A messaging service SID (<c>MG…</c>). When set it is sent instead of a sender, and Twilio picks the number from
    /// the service's sender pool; notifications then need no <c>from:</c>.
    /// </summary>
    public string? MessagingServiceSid { get; set; }

    /// <summary>The sender for messages that have none (E.164 number or alphanumeric sender id); used without a messaging service.</summary>
    public string? From { get; set; }

    /// <summary>
    /// The REST API's base address. The SDK's requests are sent here instead of <c>https://api.twilio.com/</c>
    /// (scheme, host and port are replaced; a path is kept as a prefix), for a proxy or a loopback test server.
    /// </summary>
    public Uri BaseAddress { get; set; } = new("https://api.twilio.com/");
}
