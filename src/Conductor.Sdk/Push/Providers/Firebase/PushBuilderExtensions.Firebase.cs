using Conductor.Sdk.DependencyInjection;

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
        return builder.AddProvider<IPushProvider, FirebasePushProvider, FirebasePushOptions, FirebasePushOptionsValidator>(configure);
    }
}
