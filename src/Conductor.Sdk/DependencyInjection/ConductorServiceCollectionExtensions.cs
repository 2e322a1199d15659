using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Security;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.DependencyInjection;

/// <summary>Returned by <c>AddConductor</c>: registers notifications, channels and stores.</summary>
public sealed class ConductorBuilder
{
    internal ConductorBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection, for extension methods of other Conductor packages.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Registers a notification (the generated <c>AddEnsembles()</c> does this for every ensemble).</summary>
    public ConductorBuilder AddNotification(NotificationDefinition notification)
    {
        ArgumentNullException.ThrowIfNull(notification);
        Services.AddSingleton(notification);
        return this;
    }

    /// <summary>Registers a channel (email, SMS and push packages call this).</summary>
    public ConductorBuilder AddChannel<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TChannel>()
        where TChannel : class, INotificationChannel
    {
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, TChannel>());
        return this;
    }

    /// <summary>
    /// Registers a provider of a channel (an <c>IEmailProvider</c>, <c>ISmsProvider</c> or <c>IPushProvider</c>) with its
    /// options, which the app sets from configuration and which are checked when the host starts (by any
    /// <c>IValidateOptions&lt;TOptions&gt;</c> registered for them). Provider packages call this from their
    /// <c>Add…</c> methods.
    /// </summary>
    public ConductorBuilder AddProvider<TService, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TProvider, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(Action<TOptions> configure)
        where TService : class
        where TProvider : class, TService
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.AddOptions<TOptions>().Configure(configure).ValidateOnStart();
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<TService, TProvider>());
        return this;
    }

    /// <summary>As <see cref="AddProvider{TService, TProvider, TOptions}"/>, with the validator that checks the options at start.</summary>
    public ConductorBuilder AddProvider<TService, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TProvider, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TValidator>(Action<TOptions> configure)
        where TService : class
        where TProvider : class, TService
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        return AddProvider<TService, TProvider, TOptions>(configure);
    }

    /// <summary>Replaces the delivery store (the default is SQLite, see <c>UseSqlite</c>).</summary>
    public ConductorBuilder UseStore<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TStore>()
        where TStore : class, IDeliveryStore
    {
        Services.Replace(ServiceDescriptor.Singleton<IDeliveryStore, TStore>());
        return this;
    }
}

/// <summary>Registration of the Conductor runtime.</summary>
public static class ConductorServiceCollectionExtensions
{
    /// <summary>
    /// Adds the dispatcher, the delivery worker, the webhook channel (with its SSRF-safe HTTP client) and the
    /// SQLite store in <c>App_Data/conductor-deliveries.db</c>. Options are validated when the host starts.
    /// </summary>
    public static ConductorBuilder AddConductor(this IServiceCollection services, Action<ConductorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var optionsBuilder = services.AddOptions<ConductorOptions>().ValidateOnStart();
        if (configure is not null) optionsBuilder.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConductorOptions>, ConductorOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ConductorTelemetry>(sp => new ConductorTelemetry(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        // Zero configuration means durable: a SQLite file in the application's data directory.
        services.TryAddSingleton<IDeliveryStore>(sp => new Sqlite.SqliteDeliveryStore(Sqlite.SqliteConductorBuilderExtensions.DefaultPath(sp)));
        // Generated ensembles register an EnsembleRegistration; their ${env.NAME} values are read (and checked, all at
        // once) when the registry is first needed, which is at host start.
        services.TryAddSingleton(sp => Ensembles.EnsembleEnvironment.Read(
            sp.GetService<Microsoft.Extensions.Configuration.IConfiguration>(),
            sp.GetServices<Ensembles.EnsembleRegistration>().SelectMany(r => r.Requirements)));
        services.TryAddSingleton(sp =>
        {
            var environment = sp.GetRequiredService<Ensembles.EnsembleEnvironment>();
            var generated = sp.GetServices<Ensembles.EnsembleRegistration>().SelectMany(r => r.CreateNotifications(environment));
            return new NotificationRegistry(sp.GetServices<NotificationDefinition>().Concat(generated));
        });
        services.TryAddSingleton<DeliverySignal>();
        services.TryAddSingleton<EndpointIsolation>();
        services.TryAddSingleton<NotificationDispatcher>();
        services.TryAddSingleton<Runner.EnsembleRunner>();
        services.TryAddSingleton<DeliveryProcessor>();
        services.TryAddSingleton<IDeliveryAdmin, DeliveryAdmin>();
        services.TryAddSingleton(sp => new DestinationPolicy(sp.GetRequiredService<IOptions<ConductorOptions>>().Value.AllowedNetworks));
        services.TryAddSingleton(sp => new SafeConnector(sp.GetRequiredService<DestinationPolicy>()));
        services.AddHttpClient(WebhookChannel.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<SafeConnector>().CreateHandler())
            // The factory's default logging writes full request URLs, which may carry tokens.
            .RemoveAllLoggers();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, WebhookChannel>());
        // Email works with zero configuration: messages are written as .eml files until a real provider is chosen.
        services.AddOptions<Email.ConductorEmailOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, Email.EmailChannel>());
        services.AddOptions<Sms.ConductorSmsOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, Sms.SmsChannel>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, Push.PushChannel>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Email.IEmailProvider, Email.FileEmailProvider>(sp =>
            new Email.FileEmailProvider(
                sp.GetRequiredService<IOptions<Email.ConductorEmailOptions>>().Value.FileDirectory
                    ?? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Sqlite.SqliteConductorBuilderExtensions.DefaultPath(sp))!, "mail"),
                sp.GetRequiredService<TimeProvider>())));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ConductorStartupCheck>());
        services.AddHostedService<DeliveryWorker>();
        return new ConductorBuilder(services);
    }
}

/// <summary>Fails start-up when a registered notification needs a channel that is not registered.</summary>
internal sealed class ConductorStartupCheck(
    NotificationRegistry registry,
    IEnumerable<INotificationChannel> channels,
    IOptions<ConductorOptions> options,
    Ensembles.EnsembleEnvironment environment,
    IOptions<Email.ConductorEmailOptions> email,
    IOptions<Sms.ConductorSmsOptions> sms,
    IEnumerable<Email.IEmailProvider> emailProviders,
    IEnumerable<Sms.ISmsProvider> smsProviders,
    IEnumerable<Push.IPushProvider> pushProviders) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
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
        var missing = registry.All.Where(n => !known.Contains(n.Channel)).Select(n => $"- {n.Describe()} needs the '{n.Channel}' channel").ToList();
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
        var registered = emailProviders.Select(p => "email:" + p.Name)
            .Concat(smsProviders.Select(p => "sms:" + p.Name))
            .Concat(pushProviders.Select(p => "push:" + p.Name))
            .ToHashSet(StringComparer.Ordinal);
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
