using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
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
public sealed class EmailChannel(IEnumerable<IEmailProvider> providers, EnsembleEnvironment environment, IOptions<ConductorEmailOptions> options) : INotificationChannel
{
    private readonly Dictionary<string, IEmailProvider> _providers = providers.GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);

    /// <inheritdoc />
    public string Channel => "email";

    /// <inheritdoc />
    public string EndpointOf(NotificationDefinition notification) => "email:" + ProviderOf((EmailNotificationDefinition)notification);

    private string ProviderOf(EmailNotificationDefinition notification) => notification.Provider ?? options.Value.DefaultProvider;

    /// <summary>Builds the message of one attempt (public so that tools can show what would be sent).</summary>
    public EmailMessage CreateMessage(DeliveryAttempt attempt)
    {
        var notification = (EmailNotificationDefinition)attempt.Notification;
        var @event = EventPayload.Deserialize(attempt.Delivery.Payload);
        var context = new TemplateContext(notification.Ensemble, @event, environment);
        var to = notification.To.Select(t => EmailMessage.SingleLine(t.Render(context))).Where(t => t.Length > 0).ToList();
        var from = notification.From is { } f ? EmailMessage.SingleLine(f.Render(context)) : options.Value.DefaultFrom;
        return EmailMessage.Create(from, to, notification.Subject.Render(context), @event, attempt.Delivery.Payload);
    }

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        var notification = (EmailNotificationDefinition)attempt.Notification;
        var name = ProviderOf(notification);
        if (!_providers.TryGetValue(name, out var provider))
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider,
                $"{notification.Describe()} uses the email provider '{name}', which is not registered; register it or set Conductor email DefaultProvider");
        }

        var message = CreateMessage(attempt);
        if (message.To.Count == 0)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, $"{notification.Describe()}: every 'to' address rendered empty");
        }

        return await provider.SendAsync(message, attempt.Delivery.Id, cancellationToken).ConfigureAwait(false);
    }
}
