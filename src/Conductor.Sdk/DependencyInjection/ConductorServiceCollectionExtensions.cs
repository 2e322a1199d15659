using Conductor.Sdk;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Email;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Security;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of the Conductor runtime.</summary>
public static class ConductorServiceCollectionExtensions
{
    /// <summary>The configuration section that <see cref="AddConductor"/> binds: <c>"Conductor": { ... }</c> in appsettings.json.</summary>
    public const string ConfigurationSection = "Conductor";

    /// <summary>
    /// Adds the dispatcher, the delivery worker, the webhook channel (with its SSRF-safe HTTP client), the email and
    /// SMS channels and the SQLite store in <c>App_Data/conductor-deliveries.db</c>.
    /// </summary>
    /// <remarks>
    /// <see cref="ConductorOptions"/> are bound from the configuration section <c>Conductor</c>, the email and SMS
    /// defaults from <c>Conductor:Email</c> and <c>Conductor:Sms</c>, and each provider's options from its own section
    /// (<c>Conductor:Email:Smtp</c>, <c>Conductor:Sms:Twilio</c>, ...) when the application has an
    /// <see cref="Microsoft.Extensions.Configuration.IConfiguration"/>. <paramref name="configure"/> runs after the
    /// binding, so code wins over configuration. Everything is validated when the host starts, and a bad value fails
    /// start-up with a message that names its key.
    /// </remarks>
    public static ConductorBuilder AddConductor(this IServiceCollection services, Action<ConductorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Called again (a library, a test's ConfigureTestServices): only the options are added to, so that nothing the
        // first call registered, or a later call replaced (the store, the test kit's recorders), comes back.
        if (services.Any(d => d.ServiceType == typeof(Registered)))
        {
            if (configure is not null) services.Configure(configure);
            return new ConductorBuilder(services);
        }

        services.AddSingleton<Registered>();
        var optionsBuilder = services.AddOptions<ConductorOptions>().ValidateOnStart();
        optionsBuilder.Configure<IServiceProvider>((options, sp) =>
        {
            if (ConductorConfiguration.Section(sp, null) is not { } section) return;
            // Retention takes "Infinite", which the binder cannot read: it reads its own sub-section.
            new WithoutChild(section, "Retention").Bind(options);
            options.Retention.Bind(section.GetSection("Retention"));
        });
        if (configure is not null) optionsBuilder.Configure(configure);
        services.AddOptions<ConductorEmailOptions>().Configure<IServiceProvider>((options, sp) => { if (ConductorConfiguration.Section(sp, "Email") is { } section) section.Bind(options); });
        services.AddOptions<ConductorSmsOptions>().Configure<IServiceProvider>((options, sp) => { if (ConductorConfiguration.Section(sp, "Sms") is { } section) section.Bind(options); });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConductorOptions>, ConductorOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ConductorTelemetry>(sp => new ConductorTelemetry(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        // Zero configuration means durable: a SQLite file in the application's data directory.
        services.TryAddSingleton<IDeliveryStore>(sp => new SqliteDeliveryStore(SqliteConductorBuilderExtensions.DefaultPath(sp), SqliteConductorBuilderExtensions.AutoMigrate(sp)));
        // Generated ensembles register an EnsembleRegistration; their ${env.NAME} values are read (and checked, all at
        // once) when the registry is first needed, which is at host start.
        services.TryAddSingleton(sp => EnsembleEnvironment.Read(
            sp.GetService<Microsoft.Extensions.Configuration.IConfiguration>(),
            sp.GetServices<EnsembleRegistration>().SelectMany(r => r.Requirements)));
        services.TryAddSingleton(sp =>
        {
            var environment = sp.GetRequiredService<EnsembleEnvironment>();
            var generated = sp.GetServices<EnsembleRegistration>().SelectMany(r => r.CreateNotifications(environment));
            return new NotificationRegistry(sp.GetServices<NotificationDefinition>().Concat(generated));
        });
        services.TryAddSingleton<DeliverySignal>();
        services.TryAddSingleton<EndpointIsolation>();
        services.TryAddSingleton<NotificationDispatcher>();
        services.TryAddSingleton<Conductor.Sdk.Runner.EnsembleRunner>();
        services.TryAddSingleton<DeliveryProcessor>();
        services.TryAddSingleton<IDeliveryAdmin, DeliveryAdmin>();
        services.TryAddSingleton<OperationalEventPump>();
        services.TryAddSingleton<EndpointLifecycle>();
        services.TryAddSingleton<IEndpointAdmin>(sp => sp.GetRequiredService<EndpointLifecycle>());
        services.TryAddSingleton(sp => new DestinationPolicy(sp.GetRequiredService<IOptions<ConductorOptions>>().Value.AllowedNetworks));
        services.TryAddSingleton(sp => new SafeConnector(sp.GetRequiredService<DestinationPolicy>()));
        services.AddHttpClient(WebhookChannel.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<SafeConnector>().CreateHandler())
            // The factory's default logging writes full request URLs, which may carry tokens.
            .RemoveAllLoggers();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, WebhookChannel>());
        // Email works with zero configuration: messages are written as .eml files until a real provider is chosen.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, EmailChannel>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<INotificationChannel, SmsChannel>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEmailProvider, FileEmailProvider>(sp =>
            new FileEmailProvider(
                sp.GetRequiredService<IOptions<ConductorEmailOptions>>().Value.FileDirectory
                    ?? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(SqliteConductorBuilderExtensions.DefaultPath(sp))!, "mail"),
                sp.GetRequiredService<TimeProvider>())));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ConductorStartupCheck>());
        // Endpoint states are read before the worker starts (disabled endpoints are never leased), then checked periodically.
        services.AddHostedService<EndpointMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<OperationalEventPump>());
        services.AddHostedService<DeliveryWorker>();
        // Retention: finished deliveries are removed when their time is up, so the store stops growing.
        services.AddHostedService<DeliveryPruner>();
        return new ConductorBuilder(services);
    }

    /// <summary>Marks a service collection that <see cref="AddConductor"/> has registered.</summary>
    private sealed class Registered;
}
