using Conductor.Sdk.Delivery;
using Conductor.Sdk.Email;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Push;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Testing;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Switches an app into test mode: <see cref="AddConductorTestKit"/>.</summary>
public static class ConductorTestKitServiceCollectionExtensions
{
    /// <summary>
    /// Puts the app's Conductor runtime in test mode: the in-memory store, the kit's fake clock as the
    /// <see cref="TimeProvider"/>, webhooks answered by the kit's scripted receiver, and every email, SMS and push provider
    /// name replaced by a recorder. Nothing reaches the network. The background worker is not started: deliveries are
    /// made when the test asks (<see cref="ConductorTestKit.DeliverAsync"/>, <see cref="ConductorTestKit.AdvanceAsync"/>,
    /// the waits). Call it after the app's own registrations (in <c>WebApplicationFactory</c>, from
    /// <c>ConfigureServices</c> or <c>ConfigureTestServices</c>); the kit checks this when it is first resolved.
    /// Returns the builder, so that a test can register fake agents:
    /// <c>.AddOrderFulfilment(agents =&gt; agents.ShipOrder((input, context) =&gt; new() { ... }))</c>.
    /// </summary>
    public static ConductorBuilder AddConductorTestKit(this IServiceCollection services, Action<ConductorTestKitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var kit = services.LastOrDefault(d => d.ServiceType == typeof(ConductorTestKit))?.ImplementationInstance as ConductorTestKit;
        if (kit is null)
        {
            var options = new ConductorTestKitOptions();
            configure?.Invoke(options);
            kit = new ConductorTestKit(options);
            services.AddSingleton(kit);
        }
        else
        {
            configure?.Invoke(kit.Options);
        }

        kit.Options.Validate();

        var builder = services.AddConductor();
        services.RemoveAll<TimeProvider>();
        services.AddSingleton<TimeProvider>(kit.Time);
        services.RemoveAll<IDeliveryStore>();
        services.AddSingleton<IDeliveryStore, InMemoryDeliveryStore>();

        // The test makes the deliveries; store-specific background services (PostgreSQL's wake-up) have no store to watch.
        for (var i = services.Count - 1; i >= 0; i--)
        {
            var type = services[i].ImplementationType;
            if (services[i].ServiceType == typeof(IHostedService)
                && (type == typeof(DeliveryWorker) || type?.Assembly.GetName().Name == "Conductor.Sdk.PostgreSql"))
            {
                services.RemoveAt(i);
            }
        }

        // Provider settings (credentials, hosts) are not checked at start: no message goes through a provider in test mode,
        // so a test needs none of them. The runtime's own options still are.
        for (var i = services.Count - 1; i >= 0; i--)
        {
            var type = services[i].ServiceType;
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IValidateOptions<>)
                && type.GenericTypeArguments[0] is { } options
                && options.Namespace?.StartsWith("Conductor.Sdk", StringComparison.Ordinal) == true
                && options != typeof(Conductor.Sdk.ConductorOptions) && options != typeof(ConductorEmailOptions) && options != typeof(ConductorSmsOptions))
            {
                services.RemoveAt(i);
            }
        }

        // ${env.NAME}: the kit's values over the app's configuration.
        services.RemoveAll<EnsembleEnvironment>();
        services.AddSingleton(sp =>
        {
            var configuration = new ConfigurationBuilder();
            if (sp.GetService<IConfiguration>() is { } app) configuration.AddConfiguration(app);
            configuration.AddInMemoryCollection(kit.Options.Environment);
            return EnsembleEnvironment.Read(configuration.Build(), sp.GetServices<EnsembleRegistration>().SelectMany(r => r.Requirements));
        });

        // Webhooks: the real channel signs and sends; the kit's receiver answers. PostConfigure runs after every Configure.
        services.PostConfigure<HttpClientFactoryOptions>(WebhookChannel.HttpClientName, options =>
            options.HttpMessageHandlerBuilderActions.Add(handlers =>
            {
                handlers.AdditionalHandlers.Clear();
                handlers.PrimaryHandler = new ScriptedReceiver(kit, handlers.Services.GetRequiredService<IDeliveryStore>());
            }));

        services.RemoveAll<IEmailProvider>();
        foreach (var name in ProviderCatalog.Names("email"))
        {
            services.AddSingleton<IEmailProvider>(sp => new EmailRecorder(name, kit, sp.GetRequiredService<IDeliveryStore>()));
        }

        services.RemoveAll<ISmsProvider>();
        foreach (var name in ProviderCatalog.Names("sms"))
        {
            services.AddSingleton<ISmsProvider>(sp => new SmsRecorder(name, kit, sp.GetRequiredService<IDeliveryStore>()));
        }

        services.RemoveAll<IPushProvider>();
        foreach (var name in ProviderCatalog.Names("push"))
        {
            services.AddSingleton<IPushProvider>(sp => new PushRecorder(name, kit, sp.GetRequiredService<IDeliveryStore>()));
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TestKitStartupCheck>());
        return builder;
    }

    /// <summary>Puts the host's Conductor runtime in test mode (see <see cref="AddConductorTestKit"/>); its services are configured last.</summary>
    public static IHostBuilder UseConductorTestKit(this IHostBuilder builder, Action<ConductorTestKitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices((_, services) => services.AddConductorTestKit(configure));
    }

    /// <summary>The test kit of an app in test mode; checks that test mode is complete (nothing would send for real).</summary>
    public static ConductorTestKit GetConductorTestKit(this IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var kit = services.GetService<ConductorTestKit>()
            ?? throw new InvalidOperationException("this app is not in test mode: call services.AddConductorTestKit() after its Conductor registrations");
        kit.Attach(services);
        return kit;
    }

    /// <summary>Checks test mode when the host starts, so that a test never sends for real by mistake.</summary>
    private sealed class TestKitStartupCheck(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            services.GetConductorTestKit();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
