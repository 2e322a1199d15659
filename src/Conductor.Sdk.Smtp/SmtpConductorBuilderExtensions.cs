using Conductor.Sdk.Email;
using Conductor.Sdk.Smtp;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of the SMTP provider.</summary>
public static class SmtpConductorBuilderExtensions
{
    /// <summary>Adds <c>provider: smtp</c>.</summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Email:Smtp</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddSmtpEmail(this ConductorBuilder builder, Action<SmtpEmailOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<SmtpEmailOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Email:Smtp") is { } section) section.Bind(options); });
        return builder.AddProvider<IEmailProvider, SmtpEmailProvider, SmtpEmailOptions>(configure);
    }
}
