using System.Text.RegularExpressions;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Runner;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Sms;

/// <summary>An SMS ready for a provider: E.164 numbers and a body of 1 to 1,600 characters.</summary>
/// <param name="From">The sender (E.164 number or alphanumeric sender id); empty when a provider setting such as a Twilio messaging service chooses it.</param>
/// <param name="To">The recipient, E.164.</param>
/// <param name="Body">The text.</param>
public sealed record SmsMessage(string From, string To, string Body)
{
    /// <summary>
    /// Per-message provider settings that override the provider's options, from an <c>operation: sms</c> step's
    /// <c>config:</c> (for Twilio: <c>accountSid</c>, <c>authToken</c>, <c>messagingServiceSid</c>). Values may be secrets: never log them.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Settings { get; init; }
}

/// <summary>Sends an <see cref="SmsMessage"/> through a provider (twilio, vonage, aws-sns).</summary>
public interface ISmsProvider
{
    /// <summary>The <c>provider:</c> name.</summary>
    string Name { get; }

    /// <summary>Sends one message. Never throws for a delivery failure.</summary>
    ValueTask<AttemptResult> SendAsync(SmsMessage message, string deliveryId, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the provider chooses the sender itself when <paramref name="message"/> has none (an empty
    /// <see cref="SmsMessage.From"/>), for example Twilio with a messaging service. Providers that always need a
    /// sender keep the default, false, and the channel then refuses a notification without <c>from:</c>.
    /// </summary>
    bool CanSendWithoutSender(SmsMessage message) => false;
}

/// <summary>SMS settings: the default provider and sender.</summary>
public sealed class ConductorSmsOptions
{
    /// <summary>The provider for notifications that name none.</summary>
    public string? DefaultProvider { get; set; }

    /// <summary>The sender for notifications without <c>from:</c> (E.164 number or alphanumeric sender id).</summary>
    public string? DefaultFrom { get; set; }
}

/// <summary>
/// Delivers <c>type: sms</c> notifications: renders the compiled body and numbers for the stored event, checks them
/// (E.164, 1–1,600 characters) with a message naming the ensemble, notification and field, and sends one message per
/// recipient through the provider. A delivery succeeds only when every recipient's message was accepted.
/// </summary>
public sealed partial class SmsChannel(IEnumerable<ISmsProvider> providers, EnsembleEnvironment environment, IOptions<ConductorSmsOptions> options) : IProviderChannel
{
    /// <summary>The longest body providers accept.</summary>
    public const int MaxBodyLength = 1600;

    private readonly Dictionary<string, ISmsProvider> _providers = providers.GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);

    /// <inheritdoc />
    public IReadOnlyCollection<string> Providers => _providers.Keys;

    [GeneratedRegex(@"^\+[1-9][0-9]{1,14}$", RegexOptions.CultureInvariant)]
    private static partial Regex E164();

    /// <inheritdoc />
    public string Channel => "sms";

    /// <inheritdoc />
    public string EndpointOf(NotificationDefinition notification) => "sms:" + ProviderOf(notification);

    private string ProviderOf(NotificationDefinition notification) => notification switch
    {
        SmsNotificationDefinition sms => sms.Provider,
        OperationNotificationDefinition operation => operation.ConfiguredProvider(environment),
        _ => null,
    } ?? options.Value.DefaultProvider ?? "unset";

    /// <summary>Renders and checks the messages of one attempt; the error names what is wrong and where.</summary>
    public (IReadOnlyList<SmsMessage> Messages, string? Error) CreateMessages(DeliveryAttempt attempt)
    {
        if (attempt.Notification is OperationNotificationDefinition operation)
        {
            // An operation step: the values were rendered when the step ran; configuration-only ones are read now.
            var values = OperationPayload.Resolve(operation, attempt.Delivery.Payload, environment);
            var settings = values.Where(v => v.Key is not ("provider" or "from" or "to" or "body")).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
            var all = (values.GetValueOrDefault("to") ?? string.Empty).Split(',');
            return Check(operation.Describe(), ProviderFor(operation), values.GetValueOrDefault("from"), OnlyRecipient(all, attempt), values.GetValueOrDefault("body") ?? string.Empty, settings);
        }

        var notification = (SmsNotificationDefinition)attempt.Notification;
        var context = new TemplateContext(notification.Ensemble, EventPayload.Deserialize(attempt.Delivery.Payload), environment);
        return Check(notification.Describe(), ProviderFor(notification), notification.From?.Render(context), OnlyRecipient(notification.To.Select(t => t.Render(context)).ToArray(), attempt), notification.Body.Render(context), null);
    }

    /// <summary>A delivery stored per recipient (<c>{key}@{n}</c>) sends to that recipient only.</summary>
    private static IEnumerable<string> OnlyRecipient(string[] recipients, DeliveryAttempt attempt) =>
        NotificationDefinition.ParseDeliveryKey(attempt.Delivery.NotificationKey).Recipient is int index
            ? index < recipients.Length ? new[] { recipients[index] } : Array.Empty<string>()
            : recipients;

    private ISmsProvider? ProviderFor(NotificationDefinition notification) => _providers.GetValueOrDefault(ProviderOf(notification));

    private (IReadOnlyList<SmsMessage> Messages, string? Error) Check(string describe, ISmsProvider? provider, string? from, IEnumerable<string> recipients, string body, IReadOnlyDictionary<string, string>? settings)
    {
        if (body.Length is 0 or > MaxBodyLength)
        {
            return (Array.Empty<SmsMessage>(), $"{describe}, field 'body': the rendered body has {body.Length} characters; an SMS needs 1 to {MaxBodyLength}");
        }

        from = string.IsNullOrWhiteSpace(from) ? options.Value.DefaultFrom ?? string.Empty : from.Trim();
        var messages = new List<SmsMessage>();
        foreach (var recipient in recipients)
        {
            var to = recipient.Trim();
            if (!E164().IsMatch(to))
            {
                return (Array.Empty<SmsMessage>(), $"{describe}, field 'to': '{to}' is not an E.164 number (+ and up to 15 digits)");
            }

            var message = new SmsMessage(from, to, body) { Settings = settings };
            if (from.Length == 0 && provider?.CanSendWithoutSender(message) != true)
            {
                return (Array.Empty<SmsMessage>(), $"{describe}, field 'from': no sender; set 'from:' or the SMS DefaultFrom");
            }

            messages.Add(message);
        }

        return messages.Count == 0 ? (messages, $"{describe}, field 'to': no recipient") : (messages, null);
    }

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        var notification = attempt.Notification;
        var name = ProviderOf(notification);
        if (!_providers.TryGetValue(name, out var provider))
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, $"{notification.Describe()} uses the SMS provider '{name}', which is not registered");
        }

        var (messages, error) = CreateMessages(attempt);
        if (error is not null) return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, error);
        AttemptResult? last = null;
        foreach (var message in messages)
        {
            last = await provider.SendAsync(message, attempt.Delivery.Id, cancellationToken).ConfigureAwait(false);
            if (last.Outcome != AttemptOutcome.Delivered) return last;
        }

        return last ?? AttemptResult.Delivered(null);
    }
}
