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

// A short job: one launch, 6 warm-up and 12 measured iterations. ShortRun's 3 + 3 left the 1,000-file cases at
// ±100% error on 2 cores (GC and tiered JIT still settling); this keeps `--filter '*'` to about two minutes.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithWarmupCount(6).WithIterationCount(12).WithId("Short"))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.JoinSummary);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
