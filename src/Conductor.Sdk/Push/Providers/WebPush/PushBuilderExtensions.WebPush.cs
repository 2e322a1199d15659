using Conductor.Sdk.DependencyInjection;

namespace Conductor.Sdk.Push;

/// <summary>Registration of push providers.</summary>
public static partial class PushBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: webpush</c> (browser push: RFC 8030 with aes128gcm encryption and VAPID). The options are
    /// checked when the host starts: the subject, and that the VAPID private key belongs to the public key.
    /// </summary>
    /// <param name="builder">The Conductor builder.</param>
    /// <param name="configure">Sets the VAPID subject and keys (from configuration), TTL and urgency.</param>
    public static ConductorBuilder AddWebPush(this ConductorBuilder builder, Action<WebPushOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<IPushProvider, WebPushProvider, WebPushOptions, WebPushOptionsValidator>(configure);
    }
}
