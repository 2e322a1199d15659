using Conductor.Sdk.DependencyInjection;

namespace Conductor.Sdk.Sms;

public static partial class SmsBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: aws-sns</c>: SMS through the Amazon SNS <c>Publish</c> action, signed with AWS Signature Version 4.
    /// </summary>
    public static ConductorBuilder AddAwsSnsSms(this ConductorBuilder builder, Action<AwsSnsSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<ISmsProvider, AwsSnsSmsProvider, AwsSnsSmsOptions>(configure);
    }
}
