using System.Diagnostics;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>Conductor.Sdk.WorkerHost in its own process (the tests kill it with SIGKILL), and waits on what it does.</summary>
public static class WorkerProcess
{
    /// <summary>Starts the host on <paramref name="store"/> (a SQLite file, or "postgresql:" and a connection string) and waits for "ready".</summary>
    public static Process Start(string store, Uri receiver, string extra = "") => StartRaw($"\"{store}\" \"{receiver}\" 5 {extra}", "ready");

    /// <summary>Starts the host with <paramref name="arguments"/> and waits for its first line to be <paramref name="ready"/>.</summary>
    public static Process StartRaw(string arguments, string ready)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "Conductor.Sdk.WorkerHost.dll");
        var start = new ProcessStartInfo("dotnet", $"\"{host}\" {arguments}")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(30)) || line.Result != ready)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("the worker process did not start: " + process.StandardError.ReadToEnd());
        }

        return process;
    }

    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan limit, string what, Func<string>? state = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), limit, what, state);

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit, string what, Func<string>? state = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit) throw new TimeoutException($"waited {limit.TotalSeconds:0} s for {what} ({state?.Invoke() ?? "no detail"})");
            await Task.Delay(20);
        }
    }
}
