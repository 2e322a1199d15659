using System.Diagnostics;

namespace Conductor.Cli.Tests;

/// <summary>The built tool, run as a real process the way CI runs it.</summary>
public sealed class ProcessTests
{
    [Fact]
    public async Task The_built_tool_validates_files_with_exit_codes_and_canonical_output()
    {
        using var folder = new TempFolder();
        var good = folder.Write("ensembles/orders.yaml", "name: orders\nnotifications:\n  - type: webhook\n    url: https://hooks.example.com/o\n    events: [execution.failed]\n    secret: ${env.WEBHOOK_SECRET}\n");
        var bad = folder.Write("ensembles/billing.yaml", "name: billing\nnotifications:\n  - type: webhook\n    url: https://hooks.example.com/b\n    events: [execution.complete]\n    secret: ${env.WEBHOOK_SECRET}\n");

        var ok = await RunAsync("validate", good);
        var failed = await RunAsync("validate", folder.Path);

        Assert.Equal((0, "1 file checked: 0 errors, 0 warnings, 0 info.\n"), (ok.ExitCode, ok.Out));
        Assert.Equal(1, failed.ExitCode);
        Assert.Equal(
            $"{bad}(5,14): error CND0004: unknown event 'execution.complete'; did you mean 'execution.completed'?\n2 files checked: 1 error, 0 warnings, 0 info.\n",
            failed.Out);
    }

    private static async Task<(int ExitCode, string Out, string Error)> RunAsync(params string[] args)
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "conductor.dll");
        Assert.True(File.Exists(tool), $"The built tool is expected next to the tests at {tool}.");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(tool);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await output).Replace("\r\n", "\n"), await error);
    }
}
