using Conductor.Sdk.DependencyInjection;

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
        return builder.AddProvider<IPushProvider, ApnsPushProvider, ApnsPushOptions, ApnsPushOptionsValidator>(configure);
    }
}
