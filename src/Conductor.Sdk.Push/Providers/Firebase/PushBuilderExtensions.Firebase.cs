using Conductor.Sdk.Push;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of push providers.</summary>
public static partial class ConductorPushBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: firebase</c> (FCM HTTP v1 with a service-account key). The options are checked when the host
    /// starts; a missing or unreadable key fails start-up with a message that says what to set.
    /// </summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Push:Firebase</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddFirebasePush(this ConductorBuilder builder, Action<FirebasePushOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<FirebasePushOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Push:Firebase") is { } section) section.Bind(options); });
        builder.AddChannel<PushChannel>();
        return builder.AddProvider<IPushProvider, FirebasePushProvider, FirebasePushOptions, FirebasePushOptionsValidator>(configure);
    }
}
