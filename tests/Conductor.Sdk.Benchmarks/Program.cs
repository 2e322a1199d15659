using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Conductor.Sdk.Benchmarks;

if (args.Length > 0 && args[0] == "--profile")
{
    // Not a benchmark: one tracked run per scenario, printing where the generator spends its time.
    Profile.Run(args.Length > 1 && int.TryParse(args[1], out var n) ? n : IncrementalBenchmarks.EnsembleCount);
    return;
}

// ShortRun (1 launch, 3 warm-up and 3 measured iterations) keeps `--filter '*'` to a few minutes on 2 cores.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun)
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.JoinSummary);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
