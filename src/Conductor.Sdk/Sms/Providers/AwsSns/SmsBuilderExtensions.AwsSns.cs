using Conductor.Sdk.Sms;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

public static partial class ConductorSmsBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: aws-sns</c>: SMS through the Amazon SNS <c>Publish</c> action, signed with AWS Signature Version 4.
    /// </summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Sms:AwsSns</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddAwsSnsSms(this ConductorBuilder builder, Action<AwsSnsSmsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<AwsSnsSmsOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Sms:AwsSns") is { } section) section.Bind(options); });
        return builder.AddProvider<ISmsProvider, AwsSnsSmsProvider, AwsSnsSmsOptions>(configure);
    }
}
