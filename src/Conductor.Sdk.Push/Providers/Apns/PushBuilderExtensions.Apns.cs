using Conductor.Sdk.Push;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of push providers.</summary>
public static partial class ConductorPushBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: apns</c> (Apple Push Notification service with a .p8 token key). The options are checked
    /// when the host starts; a missing or unreadable key fails start-up with a message that says what to set.
    /// </summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Push:Apns</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddApnsPush(this ConductorBuilder builder, Action<ApnsPushOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ApnsPushOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Push:Apns") is { } section) section.Bind(options); });
        builder.AddChannel<PushChannel>();
        return builder.AddProvider<IPushProvider, ApnsPushProvider, ApnsPushOptions, ApnsPushOptionsValidator>(configure);
    }
}
