using System.Text;
using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Runner;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Ensembles;
using Conductor.Sdk.Tests.Infrastructure;
using Conductor.Sdk.Twilio;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The product description's server-health-check ensemble, end to end: the generated flow runs the C# agent, the
/// condition decides whether the <c>operation: sms</c> step runs, and its SMS goes through the official Twilio SDK to a
/// loopback Twilio API that checks the exact request.
/// </summary>
public sealed class ServerHealthCheckTests
{
    private const string AccountSid = "AC11111111111111111111111111111111";
    private const string AuthToken = "env-twilio-auth-token";
    private const string From = "+15005550006";
    private const string OnCall = "+14155550123";

    /// <summary>The check-health agent: reports the status the test passes as input.</summary>
    public sealed class CheckHealth : IAgent
    {
        public ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult<JsonElement?>(Conductor.Sdk.Ensembles.JsonValues.Object(
                ("status", context.Input!.Value.GetProperty("status").GetString()),
                ("message", "disk /var is 97% full")));
    }

    private static async Task<Receiver> StartTwilioAsync()
    {
        Receiver? self = null;
        var server = await Receiver.StartAsync((_, _) => Reply.Status(500), map: app => Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async context =>
        {
            self!.Record(await Receiver.ReadAsync(context));
            context.Response.StatusCode = 201;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"sid":"SM00000000000000000000000000000001","account_sid":"{{AccountSid}}","status":"queued","to":"{{OnCall}}","from":"{{From}}","api_version":"2010-04-01"}""");
        }));
        self = server;
        return server;
    }

    private static ServiceProvider Build(Receiver twilio, FakeTimeProvider time)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>(RunnerTests.OtherEnsembles)
        {
            ["TWILIO_ACCOUNT_SID"] = AccountSid,
            ["TWILIO_AUTH_TOKEN"] = AuthToken,
            ["TWILIO_PHONE_NUMBER"] = From,
            ["ONCALL_PHONE"] = OnCall,
        }).Build());
        services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).UseInMemoryStore()
            .AddServerHealthCheck(agents => agents.CheckHealth<CheckHealth>())
            // The step's config (accountSid/authToken from ${env...}) overrides these for its messages.
            .AddTwilioSms(o =>
            {
                o.AccountSid = "AC99999999999999999999999999999999";
                o.AuthToken = "options-token-not-used";
                o.BaseAddress = twilio.BaseAddress;
            });
        return services.BuildServiceProvider(validateScopes: true);
    }

    [Fact]
    public async Task Critical_status_sends_the_SMS_through_Twilio_and_alerted_is_true()
    {
        await using var twilio = await StartTwilioAsync();
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var services = Build(twilio, time);

        var result = await services.GetRequiredService<ServerHealthCheckEnsemble>().RunAsync(Conductor.Sdk.Ensembles.JsonValues.Object(("status", "critical")));

        Assert.Equal(ExecutionStatus.Completed, result.Status);
        Assert.True(result.Output!.Alerted);
        Assert.Equal("critical", ((JsonElement)result.Output.Status!).GetString());
        Assert.Equal(new[] { "check-health", "alert-oncall" }, result.ExecutedSteps);

        // Stored durably before the run went on; the credentials (configuration-only values) are not in the store.
        var store = services.GetRequiredService<IDeliveryStore>();
        var delivery = Assert.Single(await store.ListAsync(new DeliveryQuery(Event: "operation:alert-oncall")));
        var stored = Encoding.UTF8.GetString(delivery.Payload.Span);
        Assert.DoesNotContain(AuthToken, stored);
        Assert.DoesNotContain(AccountSid, stored);

        await services.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(DeliveryStatus.Delivered, (await store.GetAsync(delivery.Id))!.Status);

        var request = Assert.Single(twilio.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal($"/2010-04-01/Accounts/{AccountSid}/Messages.json", request.Path);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{AccountSid}:{AuthToken}")), request.Header("Authorization"));
        Assert.StartsWith("application/x-www-form-urlencoded", request.Header("Content-Type"));
        var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body));
        Assert.Equal(new[] { "Body", "From", "To" }, form.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(OnCall, form["To"].ToString());
        Assert.Equal(From, form["From"].ToString());
        Assert.Equal("[CRITICAL] server-health-check\nStatus: critical\nMessage: disk /var is 97% full\n", form["Body"].ToString());
    }

    [Fact]
    public async Task Ok_status_skips_the_SMS_and_alerted_is_false()
    {
        await using var twilio = await StartTwilioAsync();
        var time = new FakeTimeProvider(Pipeline.Start);
        await using var services = Build(twilio, time);

        var result = await services.GetRequiredService<ServerHealthCheckEnsemble>().RunAsync(Conductor.Sdk.Ensembles.JsonValues.Object(("status", "ok")));

        Assert.Equal(ExecutionStatus.Completed, result.Status);
        Assert.False(result.Output!.Alerted);
        Assert.Equal("ok", ((JsonElement)result.Output.Status!).GetString());
        Assert.Equal(new[] { "check-health" }, result.ExecutedSteps);
        Assert.Empty(await services.GetRequiredService<IDeliveryStore>().ListAsync(new DeliveryQuery(Event: "operation:alert-oncall")));
        await services.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        time.Advance(TimeSpan.FromMinutes(10));
        await services.GetRequiredService<DeliveryProcessor>().RunDueAsync();
        Assert.Equal(0, twilio.Count);
    }
}
