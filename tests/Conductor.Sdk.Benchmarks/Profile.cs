using System.Diagnostics;
using Microsoft.CodeAnalysis;

namespace Conductor.Sdk.Benchmarks;

/// <summary>
/// <c>--profile [N ...]</c>: not a benchmark but evidence of where the time goes, for each N (default 1,000).
/// First plain Stopwatch means (tracking off) of the three scenarios, to see how each scales with N; then, with step
/// tracking on, the sum of <see cref="IncrementalGeneratorRunStep.ElapsedTime"/> per tracked step (the names of
/// <c>EnsembleGenerator.Steps</c>, plus Roslyn's <c>SourceOutput</c> for the output actions). Tracking has a large
/// overhead of its own: compare the steps with each other, and take absolute times from the benchmarks.
/// </summary>
public static class Profile
{
    public static void Run(IReadOnlyList<int> counts)
    {
        // The very first run in this process: JIT of the generator, the model library, YamlDotNet and the driver included,
        // as in a build whose compiler server has just started.
        var coldCompilation = BenchmarkInputs.CreateCompilation();
        var coldFiles = BenchmarkInputs.EnsembleFiles(counts[0]);
        var cold = Stopwatch.StartNew();
        var coldDriver = BenchmarkInputs.CreateDriver(coldFiles).RunGenerators(coldCompilation);
        cold.Stop();
        BenchmarkInputs.Verify(coldDriver, counts[0]);
        Console.WriteLine($"Cold first full run, {counts[0]} ensembles: {cold.Elapsed.TotalMilliseconds:F1} ms");

        foreach (var count in counts)
        {
            Console.WriteLine($"==== {count} ensembles ====");
            Scenarios(count, trackSteps: false);
            Scenarios(count, trackSteps: true);
            Console.WriteLine();
        }
    }

    private static void Scenarios(int count, bool trackSteps)
    {
        var compilation = BenchmarkInputs.CreateCompilation();
        var files = BenchmarkInputs.EnsembleFiles(count);
        // Step tracking itself grows with the square of the number of files (over 2 s per edit at 4,000): few rounds.
        var fullRounds = trackSteps ? 3 : Math.Clamp(20_000 / count, 5, 200);
        var editRounds = trackSteps ? 5 : 200;

        // Warm up (tiered JIT) before measuring.
        GeneratorDriver driver = null!;
        for (var i = 0; i < (trackSteps ? 2 : 10); i++) driver = BenchmarkInputs.CreateDriver(files, trackSteps).RunGenerators(compilation);
        BenchmarkInputs.Verify(driver, count);
        Measure($"Full run, {count} ensembles", fullRounds, () => driver = BenchmarkInputs.CreateDriver(files, trackSteps).RunGenerators(compilation));

        var tree = compilation.SyntaxTrees.Single();
        var otherTree = BenchmarkInputs.ParseCSharp(BenchmarkInputs.CSharpSourceEdited);
        Measure("Incremental: edit 1 C# file", editRounds, () =>
        {
            compilation = compilation.ReplaceSyntaxTree(tree, otherTree);
            (tree, otherTree) = (otherTree, tree);
            driver = driver.RunGenerators(compilation);
        });

        var edited = Math.Max(1, count / 2);
        var text = files[edited - 1];
        var otherText = BenchmarkInputs.EnsembleFile(edited, edit: 1);
        Measure("Incremental: edit 1 YAML file", editRounds, () =>
        {
            driver = driver.ReplaceAdditionalText(text, otherText);
            (text, otherText) = (otherText, text);
            driver = driver.RunGenerators(compilation);
        });
        BenchmarkInputs.Verify(driver, count);

        void Measure(string title, int rounds, Action run)
        {
            for (var i = 0; i < Math.Min(rounds, 20); i++) run(); // warm-up of this path (tracking on: as many as measured)
            var totals = new Dictionary<string, (double Ms, int Entries)>();
            var watch = new Stopwatch();
            for (var i = 0; i < rounds; i++)
            {
                watch.Start();
                run();
                watch.Stop();
                if (!trackSteps) continue;
                var result = driver.GetRunResult().Results.Single();
                foreach (var (name, steps) in result.TrackedSteps.Concat(result.TrackedOutputSteps))
                {
                    var (ms, entries) = totals.GetValueOrDefault(name);
                    totals[name] = (ms + steps.Sum(s => s.ElapsedTime.TotalMilliseconds), entries + steps.Length);
                }
            }

            var mean = watch.Elapsed.TotalMilliseconds / rounds;
            if (!trackSteps)
            {
                Console.WriteLine($"{title,-32} tracking off: {mean,9:F3} ms/op (mean of {rounds})");
                return;
            }

            Console.WriteLine($"{title,-32} tracking on:  {mean,9:F3} ms/op (mean of {rounds}); tracked steps, ms/op and entries/op:");
            foreach (var (name, (ms, entries)) in totals.Where(t => t.Value.Ms / rounds >= 0.005).OrderByDescending(t => t.Value.Ms))
            {
                Console.WriteLine($"    {name,-22} {ms / rounds,9:F3} {entries / rounds,8}");
            }
        }
    }
}
