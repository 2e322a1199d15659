using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;

namespace Conductor.Sdk.Push;

/// <summary>
/// Delivers <c>type: push</c> notifications: renders the compiled target, title, body, image, data and actions for the
/// stored event and hands the message to the notification's provider. When the provider reports the token invalid,
/// every <see cref="IPushTokenInvalidated"/> is told and the delivery ends without retries.
/// </summary>
public sealed class PushChannel(IEnumerable<IPushProvider> providers, IEnumerable<IPushTokenInvalidated> invalidationHooks, EnsembleEnvironment environment) : IProviderChannel
{
    private readonly Dictionary<string, IPushProvider> _providers = providers.GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);

    /// <inheritdoc />
    public IReadOnlyCollection<string> Providers => _providers.Keys;
    private readonly IPushTokenInvalidated[] _hooks = invalidationHooks.ToArray();

    /// <inheritdoc />
    public string Channel => "push";

    /// <inheritdoc />
    public string EndpointOf(NotificationDefinition notification) => "push:" + ((PushNotificationDefinition)notification).Provider;

    /// <summary>Renders the message of one attempt; the error names the notification and field when the target renders empty.</summary>
    public (PushMessage? Message, string? Error) CreateMessage(DeliveryAttempt attempt)
    {
        var notification = (PushNotificationDefinition)attempt.Notification;
        var @event = EventPayload.Deserialize(attempt.Delivery.Payload);
        var context = new TemplateContext(notification.Ensemble, @event, environment);
        if (notification.Targets.Count != 1)
        {
            return (null, $"{notification.Describe()}: a push message needs exactly one target, found {notification.Targets.Count}");
        }

        var (kind, template) = notification.Targets.First();
        var target = template.Render(context).Trim();
        if (target.Length == 0)
        {
            return (null, $"{notification.Describe()}, field '{kind}': '{template.Source}' rendered empty for {@event.Name}");
        }

        string? Optional(CompiledTemplate? t) => t is null ? null : t.Render(context) is { Length: > 0 } text ? text : null;
        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in notification.Data) data[key] = value.Render(context);
        var actions = notification.Actions.Select(a => new PushMessageAction(a.Id.Render(context), a.Title.Render(context))).ToArray();
        return (new PushMessage(@event.Name, notification.Describe(), new PushTarget(kind, target),
            Optional(notification.Title), Optional(notification.Body), Optional(notification.Image), data, actions)
        {
            Options = notification.Options.ToDictionary(o => o.Key, o => o.Value.Render(context), StringComparer.Ordinal),
        }, null);
    }

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        var notification = (PushNotificationDefinition)attempt.Notification;
        if (!_providers.TryGetValue(notification.Provider, out var provider))
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider,
                $"{notification.Describe()} uses the push provider '{notification.Provider}', which is not registered; call AddFirebasePush, AddApnsPush or AddWebPush");
        }

        var (message, error) = CreateMessage(attempt);
        if (message is null) return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, error);
        var result = await provider.SendAsync(message, attempt.Delivery.Id, cancellationToken).ConfigureAwait(false);
        if (result.ErrorKind == AttemptErrorKind.InvalidRecipient)
        {
            var invalidation = new PushTokenInvalidation(provider.Name, message.Target, notification.Ensemble, notification.Index, attempt.Delivery.Id, result.Error ?? "invalid token");
            var failed = new List<string>();
            foreach (var hook in _hooks)
            {
                try
                {
                    await hook.OnTokenInvalidatedAsync(invalidation, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // The token is dead either way: the delivery ends here, and the hook is not called again for it.
                    failed.Add($"{hook.GetType().Name} threw {ex.GetType().Name}");
                }
            }

            return result with
            {
                Outcome = AttemptOutcome.Permanent,
                Error = failed.Count == 0 ? result.Error : $"{result.Error} (IPushTokenInvalidated: {string.Join(", ", failed)})",
            };
        }

        return result;
    }
}
