using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.CodeAnalysis;

namespace Conductor.Sdk.Benchmarks;

/// <summary>
/// <c>--profile [N]</c>: not a benchmark but evidence of where the time goes. Runs the generator with step tracking on
/// and sums <see cref="IncrementalGeneratorRunStep.ElapsedTime"/> per tracked step name (the names of
/// <c>EnsembleGenerator.Steps</c>, plus Roslyn's <c>SourceOutput</c> for the emit step), for a full run and for each
/// kind of incremental edit. Tracking adds its own overhead: compare the steps with each other, and take absolute
/// times from the benchmarks.
/// </summary>
public static class Profile
{
    private const int Rounds = 5;

    public static void Run(int count)
    {
        var compilation = BenchmarkInputs.CreateCompilation();
        var files = BenchmarkInputs.EnsembleFiles(count);

        // Warm up the JIT on both paths first.
        for (var i = 0; i < 3; i++) BenchmarkInputs.CreateDriver(files).RunGenerators(compilation);

        var untracked = TimeIt(() => BenchmarkInputs.CreateDriver(files).RunGenerators(compilation));
        Console.WriteLine($"Full run over {count} ensembles, tracking off: {untracked.TotalMilliseconds:F1} ms (mean of {Rounds})");

        GeneratorDriver driver = null!;
        Report($"Full run over {count} ensembles, tracking on", () => driver = BenchmarkInputs.CreateDriver(files, trackSteps: true).RunGenerators(compilation));
        BenchmarkInputs.Verify(driver, count);

        var tree = compilation.SyntaxTrees.Single();
        var otherTree = BenchmarkInputs.ParseCSharp(BenchmarkInputs.CSharpSourceEdited);
        Report($"Incremental: edit 1 C# file, {count} ensembles", () =>
        {
            compilation = compilation.ReplaceSyntaxTree(tree, otherTree);
            (tree, otherTree) = (otherTree, tree);
            driver = driver.RunGenerators(compilation);
        });

        var edited = Math.Max(1, count / 2);
        var text = files[edited - 1];
        var otherText = BenchmarkInputs.EnsembleFile(edited, edit: 1);
        Report($"Incremental: edit 1 YAML file of {count}", () =>
        {
            driver = driver.ReplaceAdditionalText(text, otherText);
            (text, otherText) = (otherText, text);
            driver = driver.RunGenerators(compilation);
        });

        void Report(string title, Action run)
        {
            var totals = new Dictionary<string, (double Ms, int Count)>();
            var wall = TimeIt(() =>
            {
                run();
                var result = driver.GetRunResult().Results.Single();
                foreach (var (name, steps) in result.TrackedSteps.Concat(result.TrackedOutputSteps))
                {
                    var (ms, n) = totals.GetValueOrDefault(name);
                    totals[name] = (ms + steps.Sum(s => s.ElapsedTime.TotalMilliseconds), n + steps.Length);
                }
            });
            var timing = driver.GetTimingInfo();
            Console.WriteLine();
            Console.WriteLine($"{title}: {wall.TotalMilliseconds:F2} ms wall (mean of {Rounds}); generator time of the last run {timing.ElapsedTime.TotalMilliseconds:F2} ms");
            Console.WriteLine($"  {"step",-22} {"ms per run",12} {"entries per run",16}");
            foreach (var (name, (ms, n)) in totals.OrderByDescending(t => t.Value.Ms))
            {
                Console.WriteLine($"  {name,-22} {ms / Rounds,12:F2} {n / Rounds,16}");
            }
        }
    }

    private static TimeSpan TimeIt(Action action)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Rounds; i++) action();
        return watch.Elapsed / Rounds;
    }
}
