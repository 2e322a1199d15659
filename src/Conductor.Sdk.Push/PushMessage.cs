using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Push;

/// <summary>Where a push message goes: the YAML key that named the target and its rendered value.</summary>
/// <param name="Kind"><c>token</c>, <c>topic</c> or <c>condition</c> (firebase), <c>deviceToken</c> (apns), <c>subscription</c> (webpush).</param>
/// <param name="Value">The rendered target; for <c>subscription</c> the subscription JSON (<c>{"endpoint":…,"keys":{"p256dh":…,"auth":…}}</c>).</param>
public sealed record PushTarget(string Kind, string Value);

/// <summary>A button of a rich notification.</summary>
public sealed record PushMessageAction(string Id, string Title);

/// <summary>A push message rendered for one event, ready for a provider.</summary>
/// <param name="Event">The event name (<c>execution.completed</c>, …).</param>
/// <param name="Describe">How errors name the notification ("ensemble 'x', push notification #1").</param>
/// <param name="Target">The one recipient.</param>
/// <param name="Title">The rendered title, or null.</param>
/// <param name="Body">The rendered body, or null.</param>
/// <param name="Image">The image URL of a rich notification, or null.</param>
/// <param name="Data">Custom key/value data for the app.</param>
/// <param name="Actions">Buttons of a rich notification.</param>
public sealed record PushMessage(
    string Event,
    string Describe,
    PushTarget Target,
    string? Title,
    string? Body,
    string? Image,
    IReadOnlyDictionary<string, string> Data,
    IReadOnlyList<PushMessageAction> Actions)
{
    /// <summary>Rendered provider settings from the YAML (for apns, <c>topic</c>: the apns-topic that overrides the configured bundle id).</summary>
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();
}

/// <summary>Sends a <see cref="PushMessage"/> through one service (firebase, apns, webpush).</summary>
public interface IPushProvider
{
    /// <summary>The <c>provider:</c> name.</summary>
    string Name { get; }

    /// <summary>
    /// Sends one message. Never throws for a delivery failure. A token or subscription the service reports as
    /// unregistered or expired is returned as <see cref="AttemptOutcome.Permanent"/> with
    /// <see cref="Channels.AttemptErrorKind.InvalidRecipient"/>; the channel then tells every
    /// <see cref="IPushTokenInvalidated"/>.
    /// </summary>
    ValueTask<Channels.AttemptResult> SendAsync(PushMessage message, string deliveryId, CancellationToken cancellationToken);
}

/// <summary>What the app learns when a push service says a token is no longer valid.</summary>
/// <param name="Provider">firebase, apns or webpush.</param>
/// <param name="Target">The token, device token or subscription that should be deleted.</param>
/// <param name="Ensemble">The ensemble whose notification used it.</param>
/// <param name="NotificationIndex">Zero-based index of the notification in <c>notifications:</c>.</param>
/// <param name="DeliveryId">The delivery that found out.</param>
/// <param name="Reason">The service's reason (for example <c>UNREGISTERED</c>, <c>410 Unregistered</c>).</param>
public sealed record PushTokenInvalidation(string Provider, PushTarget Target, string Ensemble, int NotificationIndex, string DeliveryId, string Reason);

/// <summary>
/// Implemented by the app to delete tokens the push services reject as unregistered or expired. Register any number
/// in DI; each is called once per invalid token, and the delivery is dead-lettered without retries.
/// </summary>
public interface IPushTokenInvalidated
{
    /// <summary>Called after a provider reported the target invalid.</summary>
    ValueTask OnTokenInvalidatedAsync(PushTokenInvalidation invalidation, CancellationToken cancellationToken);
}
