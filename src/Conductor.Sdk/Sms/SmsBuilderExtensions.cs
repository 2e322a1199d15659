using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Sdk.Sms;

/// <summary>Registration of SMS providers.</summary>
public static class SmsBuilderExtensions
{
    /// <summary>Adds <c>provider: vonage</c>.</summary>
    public static ConductorBuilder AddVonageSms(this ConductorBuilder builder, Action<VonageSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<ISmsProvider, VonageSmsProvider, VonageSmsOptions>(configure);
    }

    /// <summary>
    /// Adds <c>provider: aws-sns</c>: SMS through the Amazon SNS <c>Publish</c> action, signed with AWS Signature Version 4.
    /// </summary>
    public static ConductorBuilder AddAwsSnsSms(this ConductorBuilder builder, Action<AwsSnsSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider<ISmsProvider, AwsSnsSmsProvider, AwsSnsSmsOptions>(configure);
    }

    /// <summary>Chooses the provider for notifications that name none, and the default sender.</summary>
    public static ConductorBuilder ConfigureSms(this ConductorBuilder builder, Action<ConductorSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}
