using Conductor.Sdk.Email;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of email settings and providers: each provider's <c>Add…Email</c> lives in its folder under Email/Providers (SMTP in its own package).</summary>
public static partial class ConductorEmailBuilderExtensions
{
    /// <summary>Chooses the provider for notifications that name none, and the default sender.</summary>
    public static ConductorBuilder ConfigureEmail(this ConductorBuilder builder, Action<ConductorEmailOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}
