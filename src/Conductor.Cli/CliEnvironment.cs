using Spectre.Console;

namespace Conductor.Cli;

/// <summary>
/// Where a command reads and writes: plain writers for line-oriented output (diagnostics, requests, verdicts) that
/// editors and CI parse, and a Spectre console for tables and progress. Tests pass their own.
/// </summary>
internal sealed class CliEnvironment
{
    public CliEnvironment(TextWriter output, TextWriter error, TextReader input, IAnsiConsole console, TimeProvider time, bool interactive)
    {
        Out = output;
        Error = error;
        In = input;
        Console = console;
        Time = time;
        Interactive = interactive;
    }

    /// <summary>Standard output: results.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error: problems with the command itself (bad arguments, unreadable files).</summary>
    public TextWriter Error { get; }

    /// <summary>Standard input: answers to confirmations.</summary>
    public TextReader In { get; }

    /// <summary>Tables and progress.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>The clock (render timestamps, purge ages, replays).</summary>
    public TimeProvider Time { get; }

    /// <summary>Whether a person can answer a confirmation (stdin is a terminal).</summary>
    public bool Interactive { get; }

    /// <summary>The process's own console.</summary>
    public static CliEnvironment System() => new(
        global::System.Console.Out,
        global::System.Console.Error,
        global::System.Console.In,
        AnsiConsole.Console,
        TimeProvider.System,
        !global::System.Console.IsInputRedirected);

    /// <summary>A console that writes plain text (no colours, no cursor movement) to <paramref name="writer"/>.</summary>
    public static IAnsiConsole PlainConsole(TextWriter writer, int width = 200)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = width;
        return console;
    }
}

/// <summary>Exit codes shared by every command.</summary>
internal static class ExitCodes
{
    /// <summary>Success: valid files, a valid signature, the operation done.</summary>
    public const int Success = 0;

    /// <summary>The answer is "no": errors in the files, an invalid signature.</summary>
    public const int Failure = 1;

    /// <summary>The command could not run: a bad argument, a missing file or store.</summary>
    public const int Usage = 2;
}

/// <summary>A problem with the command's input that the user must fix; printed without a stack trace.</summary>
internal sealed class CliUsageException(string message) : Exception(message);
