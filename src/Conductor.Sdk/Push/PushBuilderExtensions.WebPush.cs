using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

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
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<WebPushOptions>().Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WebPushOptions>, WebPushOptionsValidator>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPushProvider, WebPushProvider>());
        return builder;
    }
}
