using Conductor.Sdk.Channels;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk;

/// <summary>Fails start-up when a registered notification needs a channel that is not registered.</summary>
internal sealed class ConductorStartupCheck(
    NotificationRegistry registry,
    IEnumerable<INotificationChannel> channels,
    IOptions<ConductorOptions> options,
    Ensembles.EnsembleEnvironment environment,
    IOptions<Email.ConductorEmailOptions> email,
    IOptions<Sms.ConductorSmsOptions> sms,
    Delivery.IDeliveryStore store,
    Microsoft.Extensions.Logging.ILogger<ConductorStartupCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Where the deliveries are is the first thing an operator looks for (backups, volumes, the CLI's --store).
        if (store is Sqlite.SqliteDeliveryStore sqlite) Diagnostics.Log.StoreLocation(logger, sqlite.Path);
        var invalid = InvalidAddresses().ToList();
        if (invalid.Count > 0)
        {
            throw new InvalidOperationException("Conductor cannot start: some email addresses are not valid. Fix the YAML or the configuration values:\n" + string.Join("\n", invalid));
        }

        var lease = options.Value.LeaseDuration;
        var tooLong = registry.All.Where(n => n.AttemptTimeout >= lease).Select(n => $"- {n.Describe()} has an attempt timeout of {n.AttemptTimeout.TotalMilliseconds:0} ms").ToList();
        if (tooLong.Count > 0)
        {
            throw new InvalidOperationException(
                $"Conductor cannot start: Conductor:LeaseDuration ({lease}) must be longer than every attempt timeout, or a slow attempt could be taken over by another worker while it runs. Raise LeaseDuration or lower these timeouts:\n" + string.Join("\n", tooLong));
        }

        var known = channels.Select(c => c.Channel).ToHashSet(StringComparer.Ordinal);
        var missing = registry.All.Where(n => !known.Contains(n.Channel))
            .Select(n => $"- {n.Describe()} needs the '{n.Channel}' channel" + (Conductor.Sdk.Model.Validation.ProviderCatalog.ChannelPackage(n.Channel) is { } how ? ": " + how : string.Empty))
            .ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException("Conductor cannot start: some notifications have no channel registered. Add the channel's package and register it on the Conductor builder.\n" + string.Join("\n", missing));
        }

        var unregistered = MissingProviders().ToList();
        if (unregistered.Count > 0)
        {
            throw new InvalidOperationException("Conductor cannot start: some notifications name a provider that is not registered. Register it on the Conductor builder:\n" + string.Join("\n", unregistered));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Providers named by notifications (or chosen as the default) that nothing registered: every delivery would fail.</summary>
    private IEnumerable<string> MissingProviders()
    {
        var registered = channels.OfType<IProviderChannel>().SelectMany(c => c.Providers.Select(name => c.Channel + ":" + name)).ToHashSet(StringComparer.Ordinal);
        foreach (var notification in registry.All)
        {
            if (notification is not (EmailNotificationDefinition or SmsNotificationDefinition or PushNotificationDefinition or Runner.OperationNotificationDefinition)) continue;
            var provider = notification switch
            {
                EmailNotificationDefinition e => e.Provider ?? email.Value.DefaultProvider,
                SmsNotificationDefinition m => m.Provider ?? sms.Value.DefaultProvider,
                PushNotificationDefinition p => p.Provider,
                Runner.OperationNotificationDefinition o => o.Config.TryGetValue("provider", out var t) && t.KnownAtStart
                    ? o.ConfiguredProvider(environment)
                    : o.Operation == "email" ? email.Value.DefaultProvider : sms.Value.DefaultProvider,
                _ => null,
            };
            if (string.IsNullOrEmpty(provider))
            {
                yield return $"- {notification.Describe()} names no provider and no default is set; write 'provider:' in the YAML or set the {notification.Channel} DefaultProvider (Configure{(notification.Channel == "sms" ? "Sms" : "Email")})";
                continue;
            }

            var key = notification.Channel + ":" + provider;
            if (registered.Contains(key)) continue;
            yield return $"- {notification.Describe()} uses the {notification.Channel} provider '{provider}'; register it with "
                + (Conductor.Sdk.Model.Validation.ProviderCatalog.Registration(notification.Channel, provider) is { } how ? how : "an I" + (notification.Channel == "sms" ? "Sms" : notification.Channel == "push" ? "Push" : "Email") + "Provider named '" + provider + "'");
        }
    }

    /// <summary>
    /// Email addresses known at start-up (literals and <c>${env.NAME}</c> values) are checked now, so that a typo in a
    /// configuration value fails the host instead of every delivery. Addresses that depend on the event are checked
    /// when they are rendered.
    /// </summary>
    private IEnumerable<string> InvalidAddresses()
    {
        foreach (var notification in registry.All.OfType<EmailNotificationDefinition>())
        {
            var fields = notification.To.Select(t => ("to", t)).ToList();
            if (notification.From is { } from) fields.Add(("from", from));
            foreach (var (field, template) in fields)
            {
                if (!template.KnownAtStart) continue;
                var value = template.Render(new Ensembles.TemplateContext(notification.Ensemble, null, environment));
                if (!System.Net.Mail.MailAddress.TryCreate(value, out _))
                {
                    yield return $"- {notification.Describe()}, field '{field}': '{value}' is not a valid email address";
                }
            }
        }

        if (!System.Net.Mail.MailAddress.TryCreate(email.Value.DefaultFrom, out _))
        {
            yield return $"- Conductor email DefaultFrom: '{email.Value.DefaultFrom}' is not a valid email address";
        }
    }
}
