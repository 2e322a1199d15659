using Conductor.Sdk.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// The typed API emitted when the runtime is referenced: approved-file snapshots (rewritten in place when
/// CONDUCTOR_APPROVE=1), zero warnings with warnings as errors, no secret values.
/// </summary>
public sealed class TypedApiTests
{
    private static readonly Lazy<MetadataReference[]> RuntimeReferences = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray());

    internal static CSharpCompilation RuntimeCompilation(string source = "namespace Acme { public static class Marker { } }") =>
        CSharpCompilation.Create(
            "Consumer",
            new[] { CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions, path: "/project/Source0.cs") },
            RuntimeReferences.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999,
                generalDiagnosticOption: ReportDiagnostic.Error));

    private static IReadOnlyList<(string Name, string Text)> Inputs() =>
        GeneratorHarness.Samples()
            .Append(("kitchen-sink.yaml", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "KitchenSink", "kitchen-sink.yaml"))))
            .ToList();

    private static (GeneratorRunResult Run, Compilation Output) Generate()
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var driver = GeneratorHarness.Driver(files, track: false).RunGeneratorsAndUpdateCompilation(RuntimeCompilation(), out var output, out _);
        return (driver.GetRunResult().Results.Single(), output);
    }

    [Fact]
    public void Generated_code_matches_the_approved_files()
    {
        var (run, _) = Generate();
        var approvedDirectory = Path.Combine(ModelTests.FindRepoRoot(), "tests", "Conductor.Sdk.Generators.Tests", "Approved");
        var rewrite = Environment.GetEnvironmentVariable("CONDUCTOR_APPROVE") == "1";
        var mismatches = new List<string>();
        Assert.Equal(6, run.GeneratedSources.Length);
        foreach (var source in run.GeneratedSources)
        {
            var path = Path.Combine(approvedDirectory, source.HintName + ".approved.txt");
            var actual = source.SourceText.ToString();
            if (rewrite)
            {
                File.WriteAllText(path, actual);
                continue;
            }

            if (!File.Exists(path)) mismatches.Add($"{source.HintName}: no approved file (run with CONDUCTOR_APPROVE=1 to create it)");
            else if (File.ReadAllText(path).ReplaceLineEndings("\n") != actual) mismatches.Add($"{source.HintName}: differs from {path} (review, then run with CONDUCTOR_APPROVE=1)");
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public void Generated_code_compiles_with_warnings_as_errors()
    {
        var (run, output) = Generate();
        Assert.Null(run.Exception);
        // The YAML warnings (CND0006, CND0010) are promoted like any warning; nothing is an error by itself.
        Assert.Equal(new[] { "CND0006", "CND0010" }, run.Diagnostics.Select(d => d.Id).Order());
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Contains(run.GeneratedSources, s => s.HintName == "ConductorEnsembles.g.cs");
    }

    [Fact]
    public void Generated_code_contains_no_secret_values()
    {
        var (run, _) = Generate();
        var all = string.Join("\n", run.GeneratedSources.Select(s => s.SourceText.ToString()));
        Assert.DoesNotContain("literal-secret-do-not-emit", all);
        // Configuration values are asked for by name only.
        Assert.Contains("ctx.Env(\"KITCHEN_SECRET\")", all);
    }

    [Fact]
    public void Without_the_runtime_only_constants_are_emitted()
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var (result, output, _) = GeneratorHarness.Run(files);
        var sources = result.Results.Single().GeneratedSources;
        Assert.DoesNotContain(sources, s => s.HintName == "ConductorEnsembles.g.cs");
        Assert.All(sources, s => Assert.Contains("public sealed class NotificationInfo", s.SourceText.ToString()));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void Caching_holds_with_the_typed_emission()
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var compilation = RuntimeCompilation();
        var driver = GeneratorHarness.Driver(files).RunGenerators(compilation);
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.First(),
            CSharpSyntaxTree.ParseText("namespace Acme { public static class Marker { public static int X; } }", GeneratorHarness.ParseOptions, path: "/project/Source0.cs"));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();
        foreach (var step in new[] { EnsembleGenerator.Steps.RuntimeReference, EnsembleGenerator.Steps.EnsembleSources, EnsembleGenerator.Steps.Registration })
        {
            Assert.All(second.TrackedSteps[step].SelectMany(s => s.Outputs), o => Assert.True(
                o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }

        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }
}
