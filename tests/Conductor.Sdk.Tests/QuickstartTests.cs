using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// The README's first command: the Quickstart runs with no configuration, exits 0, and every webhook delivery it
/// reports was received, with a valid signature, by the receiver it hosts.
/// </summary>
public sealed partial class QuickstartTests
{
    [GeneratedRegex(@"^  (dlv_[0-9a-f]{32})\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(.+)$")]
    private static partial Regex DeliveryRow();

    [GeneratedRegex(@"^  verified (dlv_[0-9a-f]{32})\s+(\S+)\s+(\S+)\s+attempt (\d+) -> (\d+)$")]
    private static partial Regex ReceiverRow();

    private static string QuickstartDll()
    {
        var configuration = typeof(QuickstartTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Conductor.Sdk.sln"))) root = root.Parent;
        Assert.NotNull(root);
        var path = Path.Combine(root.FullName, "samples", "Quickstart", "bin", configuration, "net10.0", "Quickstart.dll");
        Assert.True(File.Exists(path), $"{path} was not built");
        return path;
    }

    [Fact]
    public async Task The_quickstart_runs_without_configuration_and_its_receiver_saw_every_signed_delivery()
    {
        var directory = Directory.CreateTempSubdirectory("conductor-quickstart-").FullName;
        try
        {
            var start = new ProcessStartInfo("dotnet", $"\"{QuickstartDll()}\"")
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            // The host reloads configuration from its content root, so the default store is in the user's local application
            // data (XDG_DATA_HOME on Linux), here a directory of this test's own.
            start.Environment["XDG_DATA_HOME"] = Path.Combine(directory, "data");
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using (var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2))) await process.WaitForExitAsync(limit.Token);
            var text = await output;
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}\n{text}\n{await errors}");
            Assert.Contains("Quickstart finished: every outcome is as expected.", text);
            Assert.Contains("order-fulfilment  Completed", text);
            Assert.Contains("invoice-sync      Failed    error: System.InvalidOperationException: the ledger for period 2024-01 is closed", text);

            var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
            var deliveries = lines.Select(l => DeliveryRow().Match(l)).Where(m => m.Success)
                .Select(m => (Id: m.Groups[1].Value, Ensemble: m.Groups[2].Value, Event: m.Groups[3].Value, Channel: m.Groups[4].Value, Destination: m.Groups[5].Value, Attempts: int.Parse(m.Groups[6].Value), Outcome: m.Groups[7].Value))
                .ToList();
            var received = lines.Select(l => ReceiverRow().Match(l)).Where(m => m.Success)
                .Select(m => (Id: m.Groups[1].Value, Path: m.Groups[2].Value, Event: m.Groups[3].Value, Attempt: int.Parse(m.Groups[4].Value), Status: int.Parse(m.Groups[5].Value)))
                .ToList();

            var webhooks = deliveries.Where(d => d.Channel == "webhook").ToList();
            Assert.Equal(7, webhooks.Count);
            foreach (var delivery in webhooks)
            {
                var seen = received.Where(r => r.Id == delivery.Id).ToList();
                Assert.Equal(delivery.Attempts, seen.Count);
                Assert.All(seen, r => Assert.Equal(delivery.Destination, r.Path));
                Assert.All(seen, r => Assert.Equal(delivery.Event, r.Event));
            }

            var retried = Assert.Single(webhooks, d => d.Destination == "/hooks/flaky");
            Assert.Equal(2, retried.Attempts);
            Assert.Equal("delivered (200)", retried.Outcome);
            Assert.Equal(new[] { 503, 200 }, received.Where(r => r.Id == retried.Id).OrderBy(r => r.Attempt).Select(r => r.Status));
            var gone = Assert.Single(webhooks, d => d.Destination == "/hooks/retired-endpoint");
            Assert.StartsWith("dead-lettered (410", gone.Outcome);
            Assert.All(deliveries.Where(d => d.Destination != "/hooks/retired-endpoint"), d => Assert.StartsWith("delivered", d.Outcome));
            Assert.Contains(deliveries, d => d.Event == "operation:email-customer" && d.Channel == "email");

            // Zero configuration still means durable: the SQLite store and the file email provider beside it, outside the
            // watched content root (nothing under App_Data), where the run says they are.
            var data = Path.Combine(directory, "data", "Conductor", "Quickstart");
            Assert.True(File.Exists(Path.Combine(data, "conductor-deliveries.db")));
            Assert.Contains($"store    : {Path.Combine(data, "conductor-deliveries.db")}", text);
            Assert.False(Directory.Exists(Path.Combine(directory, "App_Data")));
            Assert.Equal(deliveries.Count(d => d.Channel == "email"), Directory.GetFiles(Path.Combine(data, "mail"), "*.eml").Length);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task With_dashboard_the_quickstart_keeps_serving_the_dashboard_over_its_deliveries()
    {
        var directory = Directory.CreateTempSubdirectory("conductor-quickstart-").FullName;
        using var probe = System.Net.Sockets.TcpListener.Create(0);
        probe.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)probe.LocalEndpoint).Port}";
        probe.Stop();
        var start = new ProcessStartInfo("dotnet", $"\"{QuickstartDll()}\" --dashboard")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["QUICKSTART_DASHBOARD_URL"] = url;
        start.Environment["XDG_DATA_HOME"] = Path.Combine(directory, "data");
        using var process = Process.Start(start)!;
        try
        {
            // The run happens first; then the dashboard line, and the process keeps serving.
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync(limit.Token)) is not null && !line.StartsWith("Dashboard: ", StringComparison.Ordinal))
            {
            }

            Assert.Equal($"Dashboard: {url}/conductor (replay the dead letter there; Ctrl+C to stop)", line);
            using var client = new HttpClient();
            var list = await client.GetStringAsync($"{url}/conductor/?status=deadlettered");
            Assert.Contains("<h1>Dead letters</h1>", list);
            Assert.Contains("invoice-sync", list); // the 410 endpoint's dead letter
            Assert.Contains("id=\"replay-selected\"", list);
            Assert.False(process.HasExited);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }
}
