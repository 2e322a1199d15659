using Conductor.Sdk.DependencyInjection;

namespace Conductor.Sdk.Email;

public static partial class EmailBuilderExtensions
{
    /// <summary>Adds <c>provider: resend</c>.</summary>
    public static ConductorBuilder AddResendEmail(this ConductorBuilder builder, Action<ResendEmailOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<IEmailProvider, ResendEmailProvider, ResendEmailOptions>(configure);
    }
}
