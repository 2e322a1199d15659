using Conductor.Sdk.DependencyInjection;

namespace Conductor.Sdk.Sms;

public static partial class SmsBuilderExtensions
{
    /// <summary>Adds <c>provider: vonage</c>.</summary>
    public static ConductorBuilder AddVonageSms(this ConductorBuilder builder, Action<VonageSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<ISmsProvider, VonageSmsProvider, VonageSmsOptions>(configure);
    }
}
