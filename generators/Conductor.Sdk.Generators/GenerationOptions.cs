using Microsoft.CodeAnalysis.Diagnostics;

namespace Conductor.Sdk.Generators
{
    /// <summary>Project-level settings the generator reads from MSBuild properties.</summary>
    internal sealed record GenerationOptions(string Namespace)
    {
        public static GenerationOptions From(AnalyzerConfigOptionsProvider provider)
        {
            var options = provider.GlobalOptions;
            if (options.TryGetValue("build_property.ConductorEnsemblesNamespace", out var explicitNamespace) && explicitNamespace.Trim().Length > 0)
            {
                return new GenerationOptions(explicitNamespace.Trim());
            }

            if (options.TryGetValue("build_property.RootNamespace", out var root) && root.Trim().Length > 0)
            {
                return new GenerationOptions(root.Trim() + ".Ensembles");
            }

            return new GenerationOptions("Ensembles");
        }
    }
}
