using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Conductor.Sdk.Generators
{
    /// <summary>An AdditionalFile chosen as an ensemble. Equal while the compiler hands over the same text.</summary>
    internal sealed record EnsembleFile(string Path, AdditionalText Text)
    {
        /// <summary>
        /// Metadata <c>ConductorEnsemble="true|false"</c> decides when set; otherwise YAML files under a folder named
        /// <c>ensembles</c>, and files named <c>*.ensemble.yaml</c>, are ensembles.
        /// </summary>
        public static EnsembleFile? Select(AdditionalText text, AnalyzerConfigOptionsProvider options)
        {
            var path = text.Path;
            if (options.GetOptions(text).TryGetValue("build_metadata.AdditionalFiles.ConductorEnsemble", out var flag) && flag.Length > 0)
            {
                return string.Equals(flag.Trim(), "true", StringComparison.OrdinalIgnoreCase) ? new EnsembleFile(path, text) : null;
            }

            return IsEnsemblePath(path) ? new EnsembleFile(path, text) : null;
        }

        /// <summary>The default selection by path.</summary>
        public static bool IsEnsemblePath(string path)
        {
            var normalized = path.Replace('\\', '/');
            var lower = normalized.ToLowerInvariant();
            if (lower.EndsWith(".ensemble.yaml", StringComparison.Ordinal) || lower.EndsWith(".ensemble.yml", StringComparison.Ordinal)) return true;
            if (!lower.EndsWith(".yaml", StringComparison.Ordinal) && !lower.EndsWith(".yml", StringComparison.Ordinal)) return false;
            return lower.StartsWith("ensembles/", StringComparison.Ordinal) || lower.Contains("/ensembles/");
        }
    }
}
