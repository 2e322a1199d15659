using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Conductor.Sdk.Benchmarks;

if (args.Length > 0 && args[0] == "--profile")
{
    // Not a benchmark: timings per N and per tracked step, printing where the generator spends its time (see README.md).
    var counts = args.Skip(1).Select(int.Parse).ToList();
    Profile.Run(counts.Count > 0 ? counts : [IncrementalBenchmarks.EnsembleCount]);
    return;
}

// A short job: one launch, 15 warm-up and 15 measured iterations. ShortRun's 3 + 3 measured tiered JIT still
// settling (on 2 cores the 1,000-file cases took 10+ iterations to reach steady state, at ±50-100% error); this
// keeps `--filter '*'` to about 70 seconds including the build.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithWarmupCount(15).WithIterationCount(15).WithId("Short"))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.JoinSummary);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
