using Conductor.Sdk.Model.Templates;

namespace Conductor.Sdk.Model
{
    /// <summary>The four notification channels.</summary>
    public enum NotificationType
    {
        /// <summary><c>type: webhook</c></summary>
        Webhook,
        /// <summary><c>type: email</c></summary>
        Email,
        /// <summary><c>type: sms</c></summary>
        Sms,
        /// <summary><c>type: push</c></summary>
        Push,
    }

    /// <summary>How a webhook is signed and which headers it carries.</summary>
    public enum WebhookFormat
    {
        /// <summary>X-Conductor-* headers, <c>sha256=</c> hex signature (the default).</summary>
        Conductor,
        /// <summary>webhook-id/-timestamp/-signature headers per the Standard Webhooks spec.</summary>
        StandardWebhooks,
    }

    /// <summary>A notification of an ensemble: where the event goes, for which events.</summary>
    /// <param name="Index">Zero-based position in <c>notifications:</c>, used in messages.</param>
    /// <param name="Events">The subscribed event names, as written.</param>
    /// <param name="Span">The whole notification entry.</param>
    public abstract record Notification(int Index, EquatableArray<LocatedString> Events, SourceSpan Span)
    {
        /// <summary>The channel.</summary>
        public abstract NotificationType Type { get; }

        /// <summary>The <c>type:</c> word.</summary>
        public string TypeName => Type.ToString().ToLowerInvariant();
    }

    /// <summary><c>type: webhook</c>: a signed HTTP POST.</summary>
    public sealed record WebhookNotification(
        int Index,
        EquatableArray<LocatedString> Events,
        SourceSpan Span,
        Template Url,
        Template? Secret,
        int Retries,
        int TimeoutMilliseconds,
        EquatableArray<TemplateEntry> Headers,
        WebhookFormat Format,
        int RatePermits = 0,
        int RatePerSeconds = 0) : Notification(Index, Events, Span)
    {
        /// <summary>Whether <c>rate-limit:</c> is set: at most <see cref="RatePermits"/> attempts per <see cref="RatePerSeconds"/> seconds.</summary>
        public bool HasRateLimit => RatePermits > 0;

        /// <summary>Retries after the first attempt when none is written.</summary>
        public const int DefaultRetries = 3;

        /// <summary>Per-attempt timeout when none is written.</summary>
        public const int DefaultTimeoutMilliseconds = 5000;

        /// <inheritdoc />
        public override NotificationType Type => NotificationType.Webhook;
    }

    /// <summary><c>type: email</c>.</summary>
    public sealed record EmailNotification(
        int Index,
        EquatableArray<LocatedString> Events,
        SourceSpan Span,
        LocatedString? Provider,
        EquatableArray<Template> To,
        Template? From,
        Template Subject) : Notification(Index, Events, Span)
    {
        /// <summary>The subject when none is written.</summary>
        public const string DefaultSubject = "Conductor: ${event}";

        /// <inheritdoc />
        public override NotificationType Type => NotificationType.Email;
    }

    /// <summary><c>type: sms</c>.</summary>
    public sealed record SmsNotification(
        int Index,
        EquatableArray<LocatedString> Events,
        SourceSpan Span,
        LocatedString? Provider,
        EquatableArray<Template> To,
        Template? From,
        Template Body) : Notification(Index, Events, Span)
    {
        /// <summary>The body when none is written.</summary>
        public const string DefaultBody = "[${event}] ${ensemble.name}";

        /// <summary>The longest body providers accept, after rendering.</summary>
        public const int MaxBodyLength = 1600;

        /// <inheritdoc />
        public override NotificationType Type => NotificationType.Sms;
    }

    /// <summary>An action button of a rich push notification.</summary>
    public sealed record PushAction(Template Id, Template Title, SourceSpan Span);

    /// <summary><c>type: push</c>: Firebase, APNs or Web Push.</summary>
    public sealed record PushNotification(
        int Index,
        EquatableArray<LocatedString> Events,
        SourceSpan Span,
        LocatedString Provider,
        Template? Token,
        Template? Topic,
        Template? Condition,
        Template? DeviceToken,
        Template? Subscription,
        Template? Title,
        Template? Body,
        Template? Image,
        EquatableArray<TemplateEntry> Data,
        EquatableArray<PushAction> Actions) : Notification(Index, Events, Span)
    {
        /// <inheritdoc />
        public override NotificationType Type => NotificationType.Push;
    }
}
