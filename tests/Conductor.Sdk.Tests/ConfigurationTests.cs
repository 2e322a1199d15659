using Conductor.Sdk.Email;
using Conductor.Sdk.Push;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Smtp;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Twilio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Issue #22 point 1: options come from the "Conductor" section of appsettings.json and are validated on start.</summary>
public sealed class ConfigurationTests
{
    private static IHost BuildHost(string appsettings, Action<ConductorBuilder> configure, TempDirectory root)
    {
        File.WriteAllText(root.File("appsettings.json"), appsettings);
        // The content root holds appsettings.json, as in an application; CreateApplicationBuilder reads it.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root.Path, Args = [] });
        builder.Logging.ClearProviders();
        configure(builder.Services.AddConductor().UseInMemoryStore());
        return builder.Build();
    }

    [Fact]
    public void The_Conductor_section_of_appsettings_json_sets_the_runtime_email_sms_and_provider_options()
    {
        using var root = new TempDirectory("conductor-config");
        using var host = BuildHost("""
            {
              "Conductor": {
                "MaxConcurrentDeliveries": 12,
                "MaxConcurrentPerEndpoint": 3,
                "LeaseDuration": "00:00:45",
                "CircuitBreakerFailureRatio": 0.25,
                "AllowedNetworks": [ "10.1.0.0/16", "127.0.0.1/32" ],
                "Email": {
                  "DefaultProvider": "smtp",
                  "DefaultFrom": "alerts@example.com",
                  "Smtp": { "Host": "smtp.example.com", "Port": 2525, "Security": "None", "Username": "relay" }
                },
                "Sms": {
                  "DefaultProvider": "twilio",
                  "DefaultFrom": "+15550001111",
                  "Twilio": { "AccountSid": "AC0123", "AuthToken": "from-config" }
                },
                "Push": { "Firebase": { "ProjectId": "acme-app" } }
              }
            }
            """, c => c.AddSmtpEmail().AddTwilioSms().AddFirebasePush(), root);

        var options = host.Services.GetRequiredService<IOptions<ConductorOptions>>().Value;
        Assert.Equal(12, options.MaxConcurrentDeliveries);
        Assert.Equal(3, options.MaxConcurrentPerEndpoint);
        Assert.Equal(TimeSpan.FromSeconds(45), options.LeaseDuration);
        Assert.Equal(0.25, options.CircuitBreakerFailureRatio);
        Assert.Equal(new[] { "10.1.0.0/16", "127.0.0.1/32" }, options.AllowedNetworks);
        Assert.Equal(new ConductorOptions().MaxQueuedPerEndpoint, options.MaxQueuedPerEndpoint); // keys not given keep their defaults

        var email = host.Services.GetRequiredService<IOptions<ConductorEmailOptions>>().Value;
        Assert.Equal(("smtp", "alerts@example.com"), (email.DefaultProvider, email.DefaultFrom));
        var smtp = host.Services.GetRequiredService<IOptions<SmtpEmailOptions>>().Value;
        Assert.Equal(("smtp.example.com", 2525, SmtpSecurity.None, "relay"), (smtp.Host, smtp.Port, smtp.Security, smtp.Username));

        var sms = host.Services.GetRequiredService<IOptions<ConductorSmsOptions>>().Value;
        Assert.Equal(("twilio", "+15550001111"), (sms.DefaultProvider, sms.DefaultFrom));
        var twilio = host.Services.GetRequiredService<IOptions<TwilioSmsOptions>>().Value;
        Assert.Equal(("AC0123", "from-config"), (twilio.AccountSid, twilio.AuthToken));

        // Firebase's validator (rightly) refuses options without a key, so apply the configuration steps by hand.
        var firebase = new FirebasePushOptions();
        foreach (var step in host.Services.GetServices<IConfigureOptions<FirebasePushOptions>>()) step.Configure(firebase);
        Assert.Equal("acme-app", firebase.ProjectId);
    }

    [Fact]
    public void Code_runs_after_the_configuration_so_it_wins()
    {
        using var root = new TempDirectory("conductor-config");
        File.WriteAllText(root.File("appsettings.json"), """{ "Conductor": { "MaxConcurrentPerEndpoint": 3, "Email": { "Smtp": { "Host": "from-config", "Port": 2525 } } } }""");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root.Path, Args = [] });
        builder.Services.AddConductor(o => o.MaxConcurrentPerEndpoint = 5).UseInMemoryStore().AddSmtpEmail(o => o.Host = "from-code");
        using var host = builder.Build();

        Assert.Equal(5, host.Services.GetRequiredService<IOptions<ConductorOptions>>().Value.MaxConcurrentPerEndpoint);
        var smtp = host.Services.GetRequiredService<IOptions<SmtpEmailOptions>>().Value;
        Assert.Equal(("from-code", 2525), (smtp.Host, smtp.Port));
    }

    [Fact]
    public async Task A_bad_value_in_appsettings_json_fails_start_up_naming_its_key()
    {
        using var root = new TempDirectory("conductor-config");
        using var host = BuildHost("""{ "Conductor": { "MaxConcurrentDeliveries": 0, "AllowedNetworks": [ "intranet" ] } }""", _ => { }, root);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Conductor:MaxConcurrentDeliveries must be at least 1 (it is 0)", error.Message);
        Assert.Contains("Conductor:AllowedNetworks entry 'intranet' is not CIDR notation", error.Message);
    }

    [Fact]
    public async Task A_provider_section_that_fails_its_validator_fails_start_up()
    {
        using var root = new TempDirectory("conductor-config");
        using var host = BuildHost("""{ "Conductor": { "Sms": { "Twilio": { "BaseAddress": "ftp://twilio.example/" } } } }""", c => c.AddTwilioSms(), root);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("TwilioSmsOptions.BaseAddress must be an absolute http(s) address", error.Message);
    }

    [Fact]
    public void Without_an_IConfiguration_AddConductor_still_works_on_defaults()
    {
        var services = new ServiceCollection();
        services.AddConductor().UseInMemoryStore();
        using var provider = services.BuildServiceProvider();
        Assert.Equal(new ConductorOptions().MaxConcurrentPerEndpoint, provider.GetRequiredService<IOptions<ConductorOptions>>().Value.MaxConcurrentPerEndpoint);
        Assert.Null(ConductorConfiguration.Section(provider));
    }

    [Fact]
    public async Task A_push_notification_without_the_push_package_registered_says_which_package_to_add()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddConductor().UseInMemoryStore().AddNotification(new Notifications.PushNotificationDefinition(
            "mobile", 0, new[] { Events.EventNames.ExecutionCompleted }, "firebase",
            new Dictionary<string, Notifications.CompiledTemplate>(), null, null, null,
            new Dictionary<string, Notifications.CompiledTemplate>(), []));
        using var provider = services.BuildServiceProvider();
        var check = provider.GetServices<IHostedService>().OfType<ConductorStartupCheck>().Single();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => check.StartAsync(CancellationToken.None));
        Assert.Contains("needs the 'push' channel: add the Conductor.Sdk.Push package and register a push provider (AddFirebasePush, AddApnsPush or AddWebPush)", error.Message);
    }
}
