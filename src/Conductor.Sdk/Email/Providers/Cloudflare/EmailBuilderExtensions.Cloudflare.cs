using Conductor.Sdk.DependencyInjection;

namespace Conductor.Sdk.Email;

public static partial class EmailBuilderExtensions
{
    /// <summary>Adds <c>provider: cloudflare</c>.</summary>
    public static ConductorBuilder AddCloudflareEmail(this ConductorBuilder builder, Action<CloudflareEmailOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<IEmailProvider, CloudflareEmailProvider, CloudflareEmailOptions>(configure);
    }
}
