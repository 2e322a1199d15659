using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Conductor.Sdk.Push;

/// <summary>Registration of push providers.</summary>
public static partial class PushBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: apns</c> (Apple Push Notification service with a .p8 token key). The options are checked
    /// when the host starts; a missing or unreadable key fails start-up with a message that says what to set.
    /// </summary>
    public static ConductorBuilder AddApnsPush(this ConductorBuilder builder, Action<ApnsPushOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<ApnsPushOptions>().Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ApnsPushOptions>, ApnsPushOptionsValidator>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPushProvider, ApnsPushProvider>());
        return builder;
    }
}
