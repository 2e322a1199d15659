using Conductor.Sdk.Delivery;
using Conductor.Sdk.Notifications;

namespace Conductor.Sdk.Channels;

/// <summary>
/// A way to deliver notifications (webhook, email, SMS, push). The delivery worker calls it once per
/// attempt; retries, dead letters and isolation are the worker's job, not the channel's.
/// </summary>
public interface INotificationChannel
{
    /// <summary>The <c>type:</c> it delivers: <c>webhook</c>, <c>email</c>, <c>sms</c> or <c>push</c>.</summary>
    string Channel { get; }

    /// <summary>
    /// The isolation key of a notification's destination (for a webhook, its scheme, host and port): deliveries with
    /// the same key share one concurrency limit and one circuit breaker.
    /// </summary>
    string EndpointOf(NotificationDefinition notification);

    /// <summary>Makes one attempt. Never throws for a delivery failure: the result says what happened.</summary>
    ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken);
}

/// <summary>
/// A channel that sends through named providers (email, SMS, push): start-up checks that every provider a
/// notification names is registered.
/// </summary>
public interface IProviderChannel : INotificationChannel
{
    /// <summary>The names of the registered providers (<c>smtp</c>, <c>twilio</c>, <c>firebase</c>, ...).</summary>
    IReadOnlyCollection<string> Providers { get; }
}

/// <summary>One attempt to make: the delivery, its notification and the attempt number (1-based).</summary>
public sealed record DeliveryAttempt(DeliveryRecord Delivery, NotificationDefinition Notification, int Number);

/// <summary>How an attempt failed, for metrics and for the stored record.</summary>
public enum AttemptErrorKind
{
    /// <summary>No error.</summary>
    None,
    /// <summary>The receiver answered with a status that is not success.</summary>
    HttpStatus,
    /// <summary>The connection failed or was reset.</summary>
    Connection,
    /// <summary>The attempt exceeded its timeout.</summary>
    Timeout,
    /// <summary>The destination address is not allowed (SSRF protection).</summary>
    DestinationRefused,
    /// <summary>The endpoint's circuit breaker is open or its concurrency limit is reached; nothing was sent.</summary>
    Isolation,
    /// <summary>A provider rejected the message or its configuration.</summary>
    Provider,
    /// <summary>The recipient no longer exists (an unregistered push token or subscription); never retried.</summary>
    InvalidRecipient,
}

/// <summary>The result of one attempt.</summary>
public sealed record AttemptResult(AttemptOutcome Outcome, int? StatusCode, AttemptErrorKind ErrorKind, string? Error, TimeSpan? RetryAfter = null)
{
    // Results are immutable: the common successes are shared instead of allocated per attempt.
    private static readonly AttemptResult DeliveredWithoutStatus = new(AttemptOutcome.Delivered, null, AttemptErrorKind.None, null);
    private static readonly AttemptResult[] Delivered2xx = Enumerable.Range(200, 8).Select(code => new AttemptResult(AttemptOutcome.Delivered, code, AttemptErrorKind.None, null)).ToArray();

    /// <summary>Success (the result for a status code from 200 to 207, or none, is a shared instance).</summary>
    public static AttemptResult Delivered(int? statusCode) => statusCode switch
    {
        null => DeliveredWithoutStatus,
        >= 200 and < 208 => Delivered2xx[statusCode.Value - 200],
        _ => new(AttemptOutcome.Delivered, statusCode, AttemptErrorKind.None, null),
    };
}
