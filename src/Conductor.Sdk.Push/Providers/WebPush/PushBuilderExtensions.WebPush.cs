using Conductor.Sdk.Push;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of push providers.</summary>
public static partial class ConductorPushBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: webpush</c> (browser push: RFC 8030 with aes128gcm encryption and VAPID). The options are
    /// checked when the host starts: the subject, and that the VAPID private key belongs to the public key.
    /// </summary>
    /// <param name="builder">The Conductor builder.</param>
    /// <param name="configure">Sets the VAPID subject and keys (from configuration), TTL and urgency.</param>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Push:WebPush</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddWebPush(this ConductorBuilder builder, Action<WebPushOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<WebPushOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Push:WebPush") is { } section) section.Bind(options); });
        builder.AddChannel<PushChannel>();
        return builder.AddProvider<IPushProvider, WebPushProvider, WebPushOptions, WebPushOptionsValidator>(configure);
    }
}
