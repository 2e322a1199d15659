using Conductor.Sdk.Email;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

public static partial class ConductorEmailBuilderExtensions
{
    /// <summary>Adds <c>provider: cloudflare</c>.</summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Email:Cloudflare</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddCloudflareEmail(this ConductorBuilder builder, Action<CloudflareEmailOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<CloudflareEmailOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Email:Cloudflare") is { } section) section.Bind(options); });
        return builder.AddProvider<IEmailProvider, CloudflareEmailProvider, CloudflareEmailOptions>(configure);
    }
}
