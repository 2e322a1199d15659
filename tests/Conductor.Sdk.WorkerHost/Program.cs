using System.Globalization;
using Conductor.Sdk.DependencyInjection;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Usage: Conductor.Sdk.WorkerHost <store> <receiver url> <lease seconds>
// <store> is a SQLite file, or "postgresql:" followed by a connection string.
// Delivers the "kill-test" ensemble's webhook deliveries found in the store until it is killed.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: Conductor.Sdk.WorkerHost <store.db> <receiver url> <lease seconds>");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
var conductor = builder.Services.AddConductor(options =>
    {
        options.AllowedNetworks.Add("127.0.0.1/32");
        options.LeaseDuration = TimeSpan.FromSeconds(double.Parse(args[2], CultureInfo.InvariantCulture));
        // The tests' receivers fail first attempts on purpose; the breaker would (rightly) pause them for 30 s.
        options.CircuitBreakerMinimumThroughput = int.MaxValue;
    })
    .AddNotification(KillTest.Notification(new Uri(args[1])));
if (args[0].StartsWith("postgresql:", StringComparison.Ordinal)) conductor.UsePostgreSql(args[0]["postgresql:".Length..]);
else conductor.UseSqlite(args[0]);
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
