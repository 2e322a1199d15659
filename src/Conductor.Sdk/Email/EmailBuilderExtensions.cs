using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Sdk.Email;

/// <summary>Registration of the HTTP email providers (SMTP lives in its own package).</summary>
public static class EmailBuilderExtensions
{
    /// <summary>Adds <c>provider: resend</c>.</summary>
    public static ConductorBuilder AddResendEmail(this ConductorBuilder builder, Action<ResendEmailOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<IEmailProvider, ResendEmailProvider, ResendEmailOptions>(configure);
    }

    /// <summary>Adds <c>provider: cloudflare</c>.</summary>
    public static ConductorBuilder AddCloudflareEmail(this ConductorBuilder builder, Action<CloudflareEmailOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<IEmailProvider, CloudflareEmailProvider, CloudflareEmailOptions>(configure);
    }

    /// <summary>Chooses the provider for notifications that name none, and the default sender.</summary>
    public static ConductorBuilder ConfigureEmail(this ConductorBuilder builder, Action<ConductorEmailOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}
