using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;

namespace Conductor.Sdk.Testing;

/// <summary>
/// Keeps the results table of docs/reliability.md current: a reliability test records, once its assertions have
/// passed, what it expected and what it observed (numbers included). When the test process exits, the rows it recorded
/// replace the rows of the same tests in the table's block for this test assembly; rows of tests that did not run (a
/// filtered run) are kept as they were. Linked into each test project that has reliability tests.
/// </summary>
public static class ReliabilityResults
{
    private static readonly ConcurrentDictionary<string, (string Area, string Expected, string Observed)> Rows = new(StringComparer.Ordinal);

    /// <summary>
    /// How many times larger the soak runs are than the CI runs: <c>CONDUCTOR_SOAK=20</c> kills 20 processes instead of
    /// one and fuzzes 20 times as many YAML variants (docs/reliability.md, "Long soak"). 1 when unset.
    /// </summary>
    public static int Scale { get; } = int.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_SOAK"), out var scale) && scale > 1 ? scale : 1;

    static ReliabilityResults() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Write();

    /// <summary>Records a passed reliability test. <paramref name="case"/> tells the cases of a theory apart.</summary>
    public static void Record(string area, string expected, string observed, string? @case = null, [CallerMemberName] string test = "")
    {
        var name = test.Replace('_', ' ') + (@case is null ? string.Empty : $" ({@case})");
        Rows[name] = (area, expected, observed);
    }

    /// <summary>The block of the table this assembly owns (the table has one per test assembly).</summary>
    private static string Block => typeof(ReliabilityResults).Assembly.GetName().Name!;

    private static void Write()
    {
        if (Rows.IsEmpty) return;
        var document = FindDocument();
        if (document is null) return;
        using var exclusive = Lock(document + ".lock");
        var text = File.ReadAllText(document);
        var start = $"<!-- results:{Block}:start -->";
        var end = $"<!-- results:{Block}:end -->";
        var from = text.IndexOf(start, StringComparison.Ordinal);
        var to = text.IndexOf(end, StringComparison.Ordinal);
        if (from < 0 || to < from) return;

        var rows = new SortedDictionary<(string Area, string Test), (string Expected, string Observed)>();
        foreach (var line in text[(from + start.Length)..to].Split('\n'))
        {
            // The header row is not a result: compared trimmed (the cell keeps the space after the table's leading '|').
            var cells = line.Trim().Trim('|').Split(" | ").Select(cell => cell.Trim()).ToArray();
            if (cells.Length == 4 && cells[0] != "Area" && !cells[0].StartsWith("---", StringComparison.Ordinal)) rows[(cells[0], cells[1])] = (cells[2], cells[3]);
        }

        foreach (var key in rows.Keys.Where(k => Rows.ContainsKey(k.Test)).ToList()) rows.Remove(key);
        foreach (var (test, row) in Rows) rows[(row.Area, test)] = (Cell(row.Expected), Cell(row.Observed));

        var table = new StringBuilder("\n| Area | Test | Expected | Observed |\n|---|---|---|---|\n");
        foreach (var ((area, test), (expected, observed)) in rows) table.Append($"| {area} | {test} | {expected} | {observed} |\n");
        var updated = string.Concat(text.AsSpan(0, from + start.Length), table.ToString(), text.AsSpan(to));
        if (updated != text) File.WriteAllText(document, updated);
    }

    private static string Cell(string value) => value.Replace("|", "/", StringComparison.Ordinal).Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string? FindDocument()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "docs", "reliability.md");
            if (File.Exists(Path.Combine(directory.FullName, "Conductor.Sdk.sln")) && File.Exists(candidate)) return candidate;
        }

        return null;
    }

    /// <summary>Test assemblies run in parallel processes: each rewrites the document under an exclusive lock file.</summary>
    private static FileStream Lock(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (attempt < 200)
            {
                Thread.Sleep(25);
            }
        }
    }
}
