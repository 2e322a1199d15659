using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Runner;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Email;

/// <summary>Email settings: which provider a notification without <c>provider:</c> uses, and the default sender.</summary>
public sealed class ConductorEmailOptions
{
    /// <summary>The provider for notifications that name none. The file provider needs no configuration.</summary>
    public string DefaultProvider { get; set; } = "file";

    /// <summary>The sender for notifications without <c>from:</c>.</summary>
    public string DefaultFrom { get; set; } = "conductor@localhost";

    /// <summary>Where the file provider writes messages; default <c>App_Data/mail</c> beside the delivery store.</summary>
    public string? FileDirectory { get; set; }
}

/// <summary>
/// Delivers <c>type: email</c> notifications: renders the compiled subject and addresses for the stored event, builds
/// the text and HTML parts, and hands the message to the notification's provider (or the configured default).
/// </summary>
public sealed class EmailChannel(IEnumerable<IEmailProvider> providers, EnsembleEnvironment environment, IOptions<ConductorEmailOptions> options) : IProviderChannel
{
    private readonly Dictionary<string, IEmailProvider> _providers = providers.GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);

    /// <inheritdoc />
    public IReadOnlyCollection<string> Providers => _providers.Keys;

    /// <inheritdoc />
    public string Channel => "email";

    /// <inheritdoc />
    public string EndpointOf(NotificationDefinition notification) => "email:" + ProviderOf(notification);

    private string ProviderOf(NotificationDefinition notification) => notification switch
    {
        EmailNotificationDefinition email => email.Provider,
        OperationNotificationDefinition operation => operation.ConfiguredProvider(environment),
        _ => null,
    } ?? options.Value.DefaultProvider;

    /// <summary>Builds the message of one attempt (public so that tools can show what would be sent).</summary>
    /// <exception cref="ArgumentException">An email operation step's values are incomplete; the message names the step and field.</exception>
    public EmailMessage CreateMessage(DeliveryAttempt attempt)
    {
        if (attempt.Notification is OperationNotificationDefinition operation) return CreateOperationMessage(operation, attempt.Delivery.Payload);
        var notification = (EmailNotificationDefinition)attempt.Notification;
        var @event = EventPayload.Deserialize(attempt.Delivery.Payload);
        var context = new TemplateContext(notification.Ensemble, @event, environment);
        var to = notification.To.Select(t => EmailMessage.SingleLine(t.Render(context))).Where(t => t.Length > 0).ToList();
        var from = notification.From is { } f ? EmailMessage.SingleLine(f.Render(context)) : options.Value.DefaultFrom;
        // The text part shows the event as a webhook receiver would get it (without the stored run input).
        var body = @event.RunInput is null ? attempt.Delivery.Payload : EventPayload.Serialize(@event);
        return EmailMessage.Create(from, to, notification.Subject.Render(context), @event, body);
    }

    /// <summary>An <c>operation: email</c> step: its own subject, text and HTML (the HTML escapes the text when none is given).</summary>
    private EmailMessage CreateOperationMessage(OperationNotificationDefinition operation, ReadOnlyMemory<byte> payload)
    {
        var values = OperationPayload.Resolve(operation, payload, environment);
        IReadOnlyList<string> List(string key) => (values.GetValueOrDefault(key) ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(EmailMessage.SingleLine).Where(a => a.Length > 0).ToArray();
        var subject = EmailMessage.SingleLine(values.GetValueOrDefault("subject") ?? string.Empty);
        if (subject.Length == 0) throw new ArgumentException($"{operation.Describe()}, field 'subject': the subject rendered empty");
        var text = values.GetValueOrDefault("text");
        var html = values.GetValueOrDefault("html");
        if (string.IsNullOrEmpty(text) && string.IsNullOrEmpty(html)) throw new ArgumentException($"{operation.Describe()}, fields 'text' and 'html': the message has no content; set at least one");
        var from = values.GetValueOrDefault("from") is { Length: > 0 } f ? EmailMessage.SingleLine(f) : options.Value.DefaultFrom;
        var replyTo = values.GetValueOrDefault("replyTo") is { Length: > 0 } r ? EmailMessage.SingleLine(r) : null;
        return new EmailMessage(from, List("to"), subject, text ?? string.Empty, string.IsNullOrEmpty(html) ? $"<pre>{System.Net.WebUtility.HtmlEncode(text)}</pre>" : html)
        {
            Cc = List("cc"),
            Bcc = List("bcc"),
            ReplyTo = replyTo,
        };
    }

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        var notification = attempt.Notification;
        var name = ProviderOf(notification);
        if (!_providers.TryGetValue(name, out var provider))
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider,
                $"{notification.Describe()} uses the email provider '{name}', which is not registered; register it or set Conductor email DefaultProvider");
        }

        EmailMessage message;
        try
        {
            message = CreateMessage(attempt);
        }
        catch (ArgumentException ex)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, ex.Message);
        }

        if (message.To.Count == 0)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, $"{notification.Describe()}: every 'to' address rendered empty");
        }

        return await provider.SendAsync(message, attempt.Delivery.Id, cancellationToken).ConfigureAwait(false);
    }
}
