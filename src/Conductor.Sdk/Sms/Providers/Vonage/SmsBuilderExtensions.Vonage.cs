using Conductor.Sdk.Sms;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

public static partial class ConductorSmsBuilderExtensions
{
    /// <summary>Adds <c>provider: vonage</c>.</summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Sms:Vonage</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddVonageSms(this ConductorBuilder builder, Action<VonageSmsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<VonageSmsOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Sms:Vonage") is { } section) section.Bind(options); });
        return builder.AddProvider<ISmsProvider, VonageSmsProvider, VonageSmsOptions>(configure);
    }
}
