using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Push;

/// <summary>Registration of push providers.</summary>
public static partial class PushBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: firebase</c> (FCM HTTP v1 with a service-account key). The options are checked when the host
    /// starts; a missing or unreadable key fails start-up with a message that says what to set.
    /// </summary>
    public static ConductorBuilder AddFirebasePush(this ConductorBuilder builder, Action<FirebasePushOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<FirebasePushOptions>().Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FirebasePushOptions>, FirebasePushOptionsValidator>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPushProvider, FirebasePushProvider>());
        return builder;
    }
}
