using System.Collections.Immutable;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Conductor.Sdk.Generators.Tests.Infrastructure;

/// <summary>Runs <see cref="EnsembleGenerator"/> through a real <see cref="CSharpGeneratorDriver"/>.</summary>
public static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static CSharpCompilation Compilation(params string[] sources) =>
        CSharpCompilation.Create(
            "Consumer",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"/project/Source{i}.cs")),
            Net80.References.All,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999));

    public static GeneratorDriver Driver(IEnumerable<AdditionalText> files, TestOptionsProvider? options = null, bool track = true) =>
        CSharpGeneratorDriver.Create(
            new[] { new EnsembleGenerator().AsSourceGenerator() },
            files,
            ParseOptions,
            options ?? DefaultOptions(),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));

    public static TestOptionsProvider DefaultOptions(string rootNamespace = "Acme") =>
        new(new Dictionary<string, string> { ["build_property.RootNamespace"] = rootNamespace });

    /// <summary>Runs the generator once over the given files and returns the result and the output compilation.</summary>
    public static (GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics) Run(
        IEnumerable<AdditionalText> files, TestOptionsProvider? options = null, string csharp = "namespace Acme { public static class Marker { } }")
    {
        var compilation = Compilation(csharp);
        var driver = Driver(files, options, track: false).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return (driver.GetRunResult(), output, diagnostics);
    }

    public static string SampleDirectory => Path.Combine(AppContext.BaseDirectory, "SampleEnsembles");

    public static IReadOnlyList<(string Name, string Text)> Samples() =>
        Directory.GetFiles(SampleDirectory, "*.yaml").OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (Path.GetFileName(p), File.ReadAllText(p))).ToList();
}
