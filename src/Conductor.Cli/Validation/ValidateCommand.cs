using Conductor.Sdk.Model;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Validation;

namespace Conductor.Cli.Validation;

/// <summary>
/// <c>conductor validate</c>: the build's diagnostics without a build. Every file is parsed by the same model library
/// the source generator uses, then names are checked across files (CND0012), and each diagnostic is printed in the
/// MSBuild canonical form <c>path(line,col): warning CND0005: message</c>.
/// </summary>
internal static class ValidateCommand
{
    /// <summary>Validates the files; returns 1 when any error is reported (or any warning with <paramref name="warningsAsErrors"/>).</summary>
    public static int Run(CliEnvironment env, IReadOnlyList<string> paths, bool warningsAsErrors)
    {
        var files = EnsembleFiles.Expand(paths);
        if (files.Count == 0)
        {
            env.Error.WriteLine($"No ensemble files found in {string.Join(", ", paths.Select(p => "'" + p + "'"))}: the build looks for ensembles/**/*.yaml and **/*.ensemble.yaml; pass the files or the project folder.");
            return ExitCodes.Usage;
        }

        var results = new List<EnsembleParseResult>();
        foreach (var file in files)
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CliUsageException($"Cannot read '{file}': {ex.Message}");
            }

            results.Add(EnsembleParser.Parse(file, text));
        }

        var diagnostics = Check(results);
        int errors = 0, warnings = 0, infos = 0;
        foreach (var diagnostic in diagnostics)
        {
            var reported = warningsAsErrors && diagnostic.Severity == Severity.Warning ? diagnostic with { Severity = Severity.Error } : diagnostic;
            switch (reported.Severity)
            {
                case Severity.Error: errors++; break;
                case Severity.Warning: warnings++; break;
                default: infos++; break;
            }

            env.Out.WriteLine(reported.ToString());
        }

        env.Out.WriteLine($"{Count(files.Count, "file")} checked: {Count(errors, "error")}, {Count(warnings, "warning")}, {infos} info.");
        return errors > 0 ? ExitCodes.Failure : ExitCodes.Success;
    }

    /// <summary>The diagnostics of every file plus the cross-file name check, in file order then position.</summary>
    public static IReadOnlyList<EnsembleDiagnostic> Check(IReadOnlyList<EnsembleParseResult> results)
    {
        // The same identities as the generator's EnsembleIdentities step: every file whose name could be read.
        var identities = results
            .Where(r => r.Ensemble is not null && r.Ensemble.Name.Value.Length > 0)
            .Select(r => new EnsembleIdentity(r.Ensemble!.Name.Value, r.Ensemble.TypeName, r.FilePath, r.Ensemble.Name.Span));
        var duplicates = DuplicateNames.Find(identities);
        var order = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < results.Count; i++) order.TryAdd(results[i].FilePath, i);
        return results.SelectMany(r => r.Diagnostics)
            .Concat(duplicates)
            .OrderBy(d => order.TryGetValue(d.FilePath, out var index) ? index : int.MaxValue)
            .ThenBy(d => d.Span.Start)
            .ThenBy(d => d.Id, StringComparer.Ordinal)
            .ToList();
    }

    private static string Count(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";
}
