using Conductor.Sdk.Sms;
using Conductor.Sdk.Twilio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of the Twilio SMS provider.</summary>
public static class TwilioConductorBuilderExtensions
{
    /// <summary>
    /// Adds <c>provider: twilio</c>. Credentials usually come from configuration, for example
    /// <c>o.AccountSid = config["Twilio:AccountSid"]</c>; an <c>operation: sms</c> step may override them per message.
    /// </summary>
    /// <remarks>Options are bound from the configuration section <c>Conductor:Sms:Twilio</c>, then <paramref name="configure"/> runs.</remarks>
    public static ConductorBuilder AddTwilioSms(this ConductorBuilder builder, Action<TwilioSmsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<TwilioSmsOptions>().Configure<IServiceProvider>((options, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "Sms:Twilio") is { } section) section.Bind(options); });
        builder.Services.AddOptions<TwilioSmsOptions>()
            .Validate(o => o.BaseAddress is { IsAbsoluteUri: true } uri && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp),
                "TwilioSmsOptions.BaseAddress must be an absolute http(s) address such as https://api.twilio.com/");
        return builder.AddProvider<ISmsProvider, TwilioSmsProvider, TwilioSmsOptions>(configure);
    }
}
