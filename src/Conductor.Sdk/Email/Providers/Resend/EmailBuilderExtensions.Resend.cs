using Conductor.Sdk.Email;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

public static partial class ConductorEmailBuilderExtensions
{
    /// <summary>Adds <c>provider: resend</c>.</summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Email:Resend</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddResendEmail(this ConductorBuilder builder, Action<ResendEmailOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ResendEmailOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Email:Resend") is { } section) section.Bind(options); });
        return builder.AddProvider<IEmailProvider, ResendEmailProvider, ResendEmailOptions>(configure);
    }
}
