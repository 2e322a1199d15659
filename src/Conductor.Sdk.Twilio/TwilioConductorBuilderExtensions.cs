using Conductor.Sdk.DependencyInjection;
using Conductor.Sdk.Sms;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Conductor.Sdk.Twilio;

/// <summary>Registration of the Twilio SMS provider.</summary>
public static class TwilioConductorBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: twilio</c>. Credentials usually come from configuration, for example
    /// <c>o.AccountSid = config["Twilio:AccountSid"]</c>; an <c>operation: sms</c> step may override them per message.
    /// </summary>
    public static ConductorBuilder AddTwilioSms(this ConductorBuilder builder, Action<TwilioSmsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<TwilioSmsOptions>()
            .Validate(o => o.BaseAddress is { IsAbsoluteUri: true } uri && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp),
                "TwilioSmsOptions.BaseAddress must be an absolute http(s) address such as https://api.twilio.com/");
        return builder.AddProvider<ISmsProvider, TwilioSmsProvider, TwilioSmsOptions>(configure);
    }
}
