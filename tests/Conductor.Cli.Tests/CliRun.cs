using Conductor.Cli;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Cli.Tests;

/// <summary>The outcome of one in-process run of the CLI.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Error);

/// <summary>Runs <c>conductor</c> commands in-process, capturing what they write, on a fake clock.</summary>
internal static class CliRun
{
    public static async Task<CliResult> RunWithInputAsync(FakeTimeProvider time, string input, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var env = new CliEnvironment(output, error, new StringReader(input), CliEnvironment.PlainConsole(output), time, interactive: true);
        var code = await ConductorCli.RunAsync(args, env);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static Task<CliResult> RunAsync(FakeTimeProvider time, params string[] args) => RunWithInputAsync(time, string.Empty, args);

    public static Task<CliResult> RunAsync(params string[] args) => RunWithInputAsync(new FakeTimeProvider(new DateTimeOffset(2024, 1, 15, 10, 30, 15, TimeSpan.Zero)), string.Empty, args);
}

/// <summary>A temporary folder, deleted at the end of the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "conductor-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Writes a file (with LF line ends) and returns its path.</summary>
    public string Write(string relative, string text)
    {
        var path = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.Replace("\r\n", "\n"));
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A store file still closing on a slow machine; the OS temp cleaner takes it.
        }
    }
}
