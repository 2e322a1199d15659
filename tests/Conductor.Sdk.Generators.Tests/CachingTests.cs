using Conductor.Sdk.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;
using Steps = Conductor.Sdk.Generators.EnsembleGenerator.Steps;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// Incremental caching: a C# edit re-runs no YAML step; a YAML edit re-parses that file only.
/// </summary>
public sealed class CachingTests
{
    private static List<AdditionalText> Files() =>
        GeneratorHarness.Samples().Select(s => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + s.Name, s.Text)).ToList();

    [Fact]
    public void Editing_a_csharp_file_leaves_every_yaml_step_cached()
    {
        var files = Files();
        var compilation = GeneratorHarness.Compilation("namespace Acme { public static class Marker { } }");
        var driver = GeneratorHarness.Driver(files).RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();
        Assert.Equal(4, first.GeneratedSources.Length);

        var edited = compilation.ReplaceSyntaxTree(
            compilation.SyntaxTrees.First(),
            CSharpSyntaxTree.ParseText("namespace Acme { public static class Marker { public static int Edited = 1; } }", GeneratorHarness.ParseOptions, path: "/project/Source0.cs"));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in new[] { Steps.EnsembleFiles, Steps.ParsedEnsembles, Steps.FileDiagnostics, Steps.EnsembleIdentities, Steps.DuplicateDiagnostics, Steps.DuplicateTypeNames, Steps.GenerationOptions, Steps.EnsembleSources })
        {
            Assert.True(second.TrackedSteps.ContainsKey(step), $"step {step} was not tracked");
            var reasons = second.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
            Assert.NotEmpty(reasons);
            Assert.All(reasons, reason => Assert.True(
                reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                $"step {step} ran with reason {reason} after a C# edit"));
        }

        // Nothing at all was produced again: the outputs are the cached ones.
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void Editing_one_yaml_file_reparses_only_that_file()
    {
        var files = Files();
        var compilation = GeneratorHarness.Compilation("namespace Acme { public static class Marker { } }");
        var driver = GeneratorHarness.Driver(files).RunGenerators(compilation);

        var target = files.Single(f => f.Path.EndsWith("payment-processing.yaml", StringComparison.Ordinal));
        var text = target.GetText()!.ToString().Replace("retries", "retries").Replace("[ALERT] Payment Failed", "[ALERT] Payment failed");
        var replacement = new InMemoryAdditionalText(target.Path, text);
        var second = driver.ReplaceAdditionalText(target, replacement).RunGenerators(compilation).GetRunResult().Results.Single();

        static List<IncrementalStepRunReason> Reasons(GeneratorRunResult result, string step) =>
            result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();

        // The file selection and the parse ran again for the edited file only.
        foreach (var step in new[] { Steps.EnsembleFiles, Steps.ParsedEnsembles, Steps.EnsembleSources })
        {
            var reasons = Reasons(second, step);
            Assert.Equal(4, reasons.Count);
            Assert.Equal(1, reasons.Count(r => r == IncrementalStepRunReason.Modified));
            Assert.Equal(3, reasons.Count(r => r == IncrementalStepRunReason.Cached));
        }

        // The edit moved no position, so the edited file's diagnostics compare equal and are not reported again.
        var diagnostics = Reasons(second, Steps.FileDiagnostics);
        Assert.Equal(3, diagnostics.Count(r => r == IncrementalStepRunReason.Cached));
        Assert.Equal(1, diagnostics.Count(r => r == IncrementalStepRunReason.Unchanged));

        // Exactly one source was produced again.
        var sourceOutputs = second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(1, sourceOutputs.Count(r => r == IncrementalStepRunReason.Modified));

        // The parse step ran for the edited file alone: three inputs cached, one modified.
        var parseInputs = second.TrackedSteps[Steps.ParsedEnsembles].SelectMany(s => s.Inputs).Select(i => i.Source.Outputs[i.OutputIndex].Reason).ToList();
        Assert.Equal(1, parseInputs.Count(r => r == IncrementalStepRunReason.Modified));

        // The cross-file name check re-ran but found the same identities, so nothing downstream changed.
        var duplicates = second.TrackedSteps[Steps.DuplicateTypeNames].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.All(duplicates, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
    }

    [Fact]
    public void With_the_runtime_referenced_a_csharp_edit_reuses_every_ensemble_source_and_a_yaml_edit_re_emits_only_that_ensemble()
    {
        // The path a consumer runs: the compilation references Conductor.Sdk, so the typed API is emitted.
        var files = Files();
        var compilation = TypedApiTests.RuntimeCompilation();
        var driver = GeneratorHarness.Driver(files).RunGenerators(compilation);
        Assert.Contains(driver.GetRunResult().GeneratedTrees, t => t.ToString().Contains("Bind.Template(", StringComparison.Ordinal));

        var edited = compilation.ReplaceSyntaxTree(
            compilation.SyntaxTrees.First(),
            CSharpSyntaxTree.ParseText("namespace Acme { public static class Marker { public static int Edited = 1; } }", GeneratorHarness.ParseOptions, path: compilation.SyntaxTrees.First().FilePath));
        driver = driver.RunGenerators(edited);
        var afterCSharp = driver.GetRunResult().Results.Single();
        var sources = afterCSharp.TrackedSteps[Steps.EnsembleSources].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(4, sources.Count);
        Assert.All(sources, r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.All(afterCSharp.TrackedSteps[Steps.ParsedEnsembles].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));

        var target = files.Single(f => f.Path.EndsWith("user-onboarding.yaml", StringComparison.Ordinal));
        var replacement = new InMemoryAdditionalText(target.Path, target.GetText()!.ToString().Replace("retries: 3", "retries: 4", StringComparison.Ordinal));
        var afterYaml = driver.ReplaceAdditionalText(target, replacement).RunGenerators(edited).GetRunResult().Results.Single();
        var reemitted = afterYaml.TrackedSteps[Steps.EnsembleSources].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(1, reemitted.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(3, reemitted.Count(r => r == IncrementalStepRunReason.Cached));
    }

    [Fact]
    public void Parsing_the_same_text_twice_yields_equal_models()
    {
        foreach (var (name, text) in GeneratorHarness.Samples())
        {
            var a = Conductor.Sdk.Model.EnsembleParser.Parse(name, text);
            var b = Conductor.Sdk.Model.EnsembleParser.Parse(name, text);
            Assert.Equal(a, b);
            Assert.Equal(a.GetHashCode(), b.GetHashCode());
            var changed = Conductor.Sdk.Model.EnsembleParser.Parse(name, text.Replace("name: ", "name:  "));
            Assert.NotEqual(a.Ensemble, changed.Ensemble);
        }
    }
}
