using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Cli.Tests;

/// <summary>Issue #35: <c>conductor endpoints list | disable | enable</c> on a SQLite store the application shares.</summary>
public sealed class EndpointsTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2024, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempFolder _folder = new();
    private readonly FakeTimeProvider _time = new(Now);
    private readonly string _store;

    public EndpointsTests() => _store = Path.Combine(_folder.Path, "conductor-deliveries.db");

    public void Dispose() => _folder.Dispose();

    private static DeliveryRecord Record(string id, string endpoint, DateTimeOffset due) =>
        new(id, "orders", "execution.failed", "orders#0", "webhook", endpoint, Encoding.UTF8.GetBytes("{}"), due, due, DeliveryStatus.Pending, 0, 4);

    [Fact]
    public async Task List_shows_states_and_backlogs_and_disable_then_enable_change_the_shared_state()
    {
        await using (var store = new SqliteDeliveryStore(_store))
        {
            await store.EnqueueAsync(new[]
            {
                Record("dlv_1", "https://dead.example.com", Now.AddHours(-3)),
                Record("dlv_2", "https://dead.example.com", Now.AddHours(-1)),
                Record("dlv_3", "https://ok.example.com", Now.AddMinutes(10)),
            });
            await store.RecordEndpointFailuresAsync("https://dead.example.com", Now.AddDays(-2), 40, 2, "HTTP 503");
        }

        var list = await CliRun.RunAsync(_time, "endpoints", "list", "--store", _store);
        Assert.Equal(0, list.ExitCode);
        var lines = list.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("ENDPOINT", lines[0]);
        var dead = lines.Single(l => l.StartsWith("https://dead.example.com", StringComparison.Ordinal));
        Assert.Contains("failing", dead);
        Assert.Contains("2024-02-28 12:00:00", dead);
        Assert.Contains(" 2 3h ", dead.Replace("        2", " 2"));
        Assert.Contains("40 failed attempts; last: HTTP 503", dead);
        Assert.Contains("healthy", lines.Single(l => l.StartsWith("https://ok.example.com", StringComparison.Ordinal)));

        var typo = await CliRun.RunAsync(_time, "endpoints", "disable", "https://dead.exmaple.com", "--store", _store);
        Assert.Equal(2, typo.ExitCode);
        Assert.Contains("knows no endpoint 'https://dead.exmaple.com'. Known: https://dead.example.com, https://ok.example.com", typo.Error);

        var disable = await CliRun.RunAsync(_time, "endpoints", "disable", "https://dead.example.com", "--reason", "receiver decommissioned (TICKET-12)", "--store", _store);
        Assert.Equal(0, disable.ExitCode);
        Assert.Contains("Disabled https://dead.example.com. Its 2 due deliveries", disable.Out);
        await using (var store = new SqliteDeliveryStore(_store))
        {
            var state = (await store.EndpointsAsync()).Single();
            Assert.Equal((EndpointHealth.Disabled, "receiver decommissioned (TICKET-12)", Now), (state.Health, state.DisabledReason, state.DisabledAt));
        }

        Assert.Contains("disabled", (await CliRun.RunAsync(_time, "endpoints", "list", "--store", _store)).Out);
        Assert.Contains("already disabled", (await CliRun.RunAsync(_time, "endpoints", "disable", "https://dead.example.com", "--store", _store)).Out);

        var enable = await CliRun.RunAsync(_time, "endpoints", "enable", "https://dead.example.com", "--store", _store);
        Assert.Equal(0, enable.ExitCode);
        Assert.Contains("Enabled https://dead.example.com. The application's worker sends its 2 due deliveries in due order", enable.Out);
        await using (var store = new SqliteDeliveryStore(_store))
        {
            Assert.Equal(EndpointHealth.Healthy, (await store.EndpointsAsync()).Single().Health);
        }

        Assert.Contains("is not disabled (healthy); nothing changed", (await CliRun.RunAsync(_time, "endpoints", "enable", "https://dead.example.com", "--store", _store)).Out);
    }
}
