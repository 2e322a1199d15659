using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;

namespace Conductor.Sdk.Generators.Tests.Infrastructure;

/// <summary>
/// The Roslyn source-generator test harness (Microsoft.CodeAnalysis.CSharp.SourceGenerators.Testing) set up
/// with local reference assemblies, so no package is downloaded while tests run.
/// </summary>
public sealed class GeneratorVerifier : CSharpSourceGeneratorTest<EnsembleGenerator, DefaultVerifier>
{
    public const string EnsemblePath = "/0/ensembles/orders.yaml";

    public GeneratorVerifier()
    {
        ReferenceAssemblies = new ReferenceAssemblies("net8.0");
        TestState.AdditionalReferences.AddRange(Net80.References.All);
        TestBehaviors |= TestBehaviors.SkipGeneratedSourcesCheck;
        TestState.Sources.Add("namespace Acme { internal static class Marker { } }");
        TestState.AnalyzerConfigFiles.Add(("/.globalconfig", "is_global = true\nbuild_property.RootNamespace = Acme\n"));
    }

    /// <summary>Verifies that <paramref name="yaml"/> at <see cref="EnsemblePath"/> yields exactly <paramref name="expected"/>.</summary>
    public static Task VerifyAsync(string yaml, params DiagnosticResult[] expected)
    {
        var test = new GeneratorVerifier();
        test.TestState.AdditionalFiles.Add((EnsemblePath, yaml));
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }
}
