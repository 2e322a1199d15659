using System.Globalization;
using Conductor.Sdk.DependencyInjection;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Usage: Conductor.Sdk.WorkerHost <store.db> <receiver url> <lease seconds>
// Delivers the "kill-test" ensemble's webhook deliveries found in the store until it is killed.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: Conductor.Sdk.WorkerHost <store.db> <receiver url> <lease seconds>");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Services.AddConductor(options =>
    {
        options.AllowedNetworks.Add("127.0.0.1/32");
        options.LeaseDuration = TimeSpan.FromSeconds(double.Parse(args[2], CultureInfo.InvariantCulture));
        // The test's receiver fails every first attempt on purpose; the breaker would (rightly) pause it for 30 s.
        options.CircuitBreakerMinimumThroughput = int.MaxValue;
    })
    .UseSqlite(args[0])
    .AddNotification(KillTest.Notification(new Uri(args[1])));
using var host = builder.Build();
await host.StartAsync();
Console.WriteLine("ready");
await host.WaitForShutdownAsync();
return 0;

/// <summary>The notification both the worker and the test agree on.</summary>
public static class KillTest
{
    public static WebhookNotificationDefinition Notification(Uri url) =>
        new("kill-test", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "kill-test-secret" }, retries: 5, timeout: TimeSpan.FromSeconds(2));
}
