using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Sdk.Email;

/// <summary>Registration of email settings and providers: each provider's <c>Add…Email</c> lives in its folder under Email/Providers (SMTP in its own package).</summary>
public static partial class EmailBuilderExtensions
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
