using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Conductor.Sdk.Benchmarks;

/// <summary>A full generator run from scratch: a new driver over N typical ensemble files.</summary>
[MemoryDiagnoser]
public class FullRunBenchmarks
{
    private CSharpCompilation _compilation = null!;
    private ImmutableArray<AdditionalText> _files;

    [Params(1, 100, 1_000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _compilation = BenchmarkInputs.CreateCompilation();
        _files = BenchmarkInputs.EnsembleFiles(N);
        BenchmarkInputs.Verify(FullRun(), N);
    }

    [Benchmark(Description = "Full run: new driver + RunGenerators")]
    public GeneratorDriver FullRun() => BenchmarkInputs.CreateDriver(_files).RunGenerators(_compilation);
}

/// <summary>
/// The incremental cost of one edit after a first run over 1,000 typical ensembles: the driver of the previous
/// run is kept, as the IDE and the compiler server keep theirs.
/// </summary>
[MemoryDiagnoser]
public class IncrementalBenchmarks
{
    public const int EnsembleCount = 1_000;

    /// <summary>The file edited by the YAML benchmark: one in the middle.</summary>
    private const int EditedIndex = EnsembleCount / 2;

    private CSharpCompilation _compilation = null!;
    private SyntaxTree _tree = null!;
    private SyntaxTree _otherTree = null!;
    private AdditionalText _text = null!;
    private AdditionalText _otherText = null!;
    private GeneratorDriver _driver = null!;

    [GlobalSetup(Target = nameof(EditCSharpFile))]
    public void SetupCSharpEdit()
    {
        _compilation = BenchmarkInputs.CreateCompilation();
        _tree = _compilation.SyntaxTrees.Single();
        _otherTree = BenchmarkInputs.ParseCSharp(BenchmarkInputs.CSharpSourceEdited);
        _driver = BenchmarkInputs.CreateDriver(BenchmarkInputs.EnsembleFiles(EnsembleCount)).RunGenerators(_compilation);
        BenchmarkInputs.Verify(_driver, EnsembleCount);
        EditCSharpFile();
        EditCSharpFile();
        BenchmarkInputs.Verify(_driver, EnsembleCount);
    }

    [GlobalSetup(Target = nameof(EditYamlFile))]
    public void SetupYamlEdit()
    {
        _compilation = BenchmarkInputs.CreateCompilation();
        var files = BenchmarkInputs.EnsembleFiles(EnsembleCount);
        _text = files[EditedIndex - 1];
        _otherText = BenchmarkInputs.EnsembleFile(EditedIndex, edit: 1);
        _driver = BenchmarkInputs.CreateDriver(files).RunGenerators(_compilation);
        BenchmarkInputs.Verify(_driver, EnsembleCount);
        EditYamlFile();
        BenchmarkInputs.Verify(_driver, EnsembleCount);
        var edited = _driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith($"PaymentProcessing{EditedIndex}.Ensemble.g.cs", StringComparison.Ordinal));
        if (!edited.ToString().Contains("(edit 1)", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The YAML edit did not reach the generated source.");
        }
    }

    /// <summary>Replace the one C# syntax tree with its edited twin (alternating) and rerun the kept driver.</summary>
    [Benchmark(Description = "Incremental: edit 1 C# file, 1,000 ensembles")]
    public GeneratorDriver EditCSharpFile()
    {
        _compilation = _compilation.ReplaceSyntaxTree(_tree, _otherTree);
        (_tree, _otherTree) = (_otherTree, _tree);
        return _driver = _driver.RunGenerators(_compilation);
    }

    /// <summary>Replace one ensemble file with an edited version (alternating) and rerun the kept driver.</summary>
    [Benchmark(Description = "Incremental: edit 1 YAML file of 1,000")]
    public GeneratorDriver EditYamlFile()
    {
        _driver = _driver.ReplaceAdditionalText(_text, _otherText);
        (_text, _otherText) = (_otherText, _text);
        return _driver = _driver.RunGenerators(_compilation);
    }
}
