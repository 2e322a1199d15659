namespace Conductor.Cli.Validation;

/// <summary>
/// Finds ensemble files the way the build does: YAML files under a folder named <c>ensembles</c>, and files named
/// <c>*.ensemble.yaml</c> (or <c>.yml</c>), skipping build output and hidden folders.
/// </summary>
internal static class EnsembleFiles
{
    private static readonly HashSet<string> SkippedFolders = new(StringComparer.OrdinalIgnoreCase) { "bin", "obj", "node_modules" };

    /// <summary>The files named by <paramref name="paths"/>: files as given, folders searched. Throws when a path does not exist.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            if (File.Exists(path))
            {
                if (seen.Add(Path.GetFullPath(path))) result.Add(path);
            }
            else if (Directory.Exists(path))
            {
                foreach (var file in Search(path))
                {
                    if (seen.Add(Path.GetFullPath(file))) result.Add(file);
                }
            }
            else
            {
                throw new CliUsageException($"'{path}' is neither a file nor a folder; pass ensemble files or the project folder that contains them.");
            }
        }

        return result;
    }

    /// <summary>Whether a path relative to a searched folder names an ensemble (the generator's default selection).</summary>
    public static bool IsEnsemblePath(string relativePath, bool rootIsEnsemblesFolder)
    {
        var lower = relativePath.Replace('\\', '/').ToLowerInvariant();
        if (lower.EndsWith(".ensemble.yaml", StringComparison.Ordinal) || lower.EndsWith(".ensemble.yml", StringComparison.Ordinal)) return true;
        if (!lower.EndsWith(".yaml", StringComparison.Ordinal) && !lower.EndsWith(".yml", StringComparison.Ordinal)) return false;
        return rootIsEnsemblesFolder || lower.StartsWith("ensembles/", StringComparison.Ordinal) || lower.Contains("/ensembles/", StringComparison.Ordinal);
    }

    private static IEnumerable<string> Search(string root)
    {
        var rootIsEnsembles = string.Equals(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(root))), "ensembles", StringComparison.OrdinalIgnoreCase);
        var found = new List<string>();
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var folder = pending.Pop();
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                if (IsEnsemblePath(Path.GetRelativePath(root, file), rootIsEnsembles)) found.Add(file);
            }

            foreach (var child in Directory.EnumerateDirectories(folder))
            {
                var name = Path.GetFileName(child);
                if (name.StartsWith('.') || SkippedFolders.Contains(name)) continue;
                pending.Push(child);
            }
        }

        found.Sort(StringComparer.Ordinal);
        return found;
    }
}
