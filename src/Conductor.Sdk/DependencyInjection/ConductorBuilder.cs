using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;


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
    /// options, which are checked when the host starts (by any <c>IValidateOptions&lt;TOptions&gt;</c> registered for
    /// them). Provider packages call this from their <c>Add…</c> methods, after binding the options from their
    /// configuration section (see <see cref="Conductor.Sdk.ConductorConfiguration"/>); <paramref name="configure"/> runs
    /// after that binding.
    /// </summary>
    public ConductorBuilder AddProvider<TService, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TProvider, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(Action<TOptions>? configure)
        where TService : class
        where TProvider : class, TService
        where TOptions : class
    {
        var options = Services.AddOptions<TOptions>().ValidateOnStart();
        if (configure is not null) options.Configure(configure);
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<TService, TProvider>());
        return this;
    }

    /// <summary>As <see cref="AddProvider{TService, TProvider, TOptions}"/>, with the validator that checks the options at start.</summary>
    public ConductorBuilder AddProvider<TService, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TProvider, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions, [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TValidator>(Action<TOptions>? configure)
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
