using Conductor.Sdk.Sms;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of SMS settings and providers: each provider's <c>Add…Sms</c> lives in its folder under Sms/Providers (Twilio in its own package).</summary>
public static partial class ConductorSmsBuilderExtensions
{
    /// <summary>Chooses the provider for notifications that name none, and the default sender.</summary>
    public static ConductorBuilder ConfigureSms(this ConductorBuilder builder, Action<ConductorSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}
