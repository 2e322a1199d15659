using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// Usage (see tests/Conductor.Sdk.DeliveryBenchmarks/trace-stacks.sh, which records the trace):
//   TraceStacks alloc TRACE DELIVERIES [TOP] [PREFIX]
//                                              sampled allocations (gc-verbose), bytes per delivery, by type and the first
//                                              frame of their stack whose method starts with PREFIX (Conductor.Sdk. unless
//                                              given, e.g. Npgsql.); samples without one are left out
//   TraceStacks jit TRACE [TOP]                JIT time (MethodJittingStarted to MethodLoadVerbose on the same thread, wall
//                                              time) by assembly family and tier, and the costliest methods
if (args.Length < 2 || args[0] is not ("alloc" or "jit"))
{
    Console.Error.WriteLine("usage: TraceStacks alloc TRACE DELIVERIES [TOP] [PREFIX] | TraceStacks jit TRACE [TOP]");
    return 2;
}

return args[0] == "alloc" ? Allocations(args[1], long.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture), Top(3), args.Length > 4 ? args[4] : "Conductor.Sdk.") : Jit(args[1], Top(2));

int Top(int index) => args.Length > index ? int.Parse(args[index], System.Globalization.CultureInfo.InvariantCulture) : 40;

static int Allocations(string path, long deliveries, int top, string prefix)
{
    using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(path));
    var bySite = new Dictionary<string, long>();
    long all = 0, conductor = 0;
    foreach (var data in log.Events)
    {
        if (data is not GCAllocationTickTraceData tick) continue;
        all += tick.AllocationAmount64;
        string? site = null;
        for (var frame = data.CallStack(); frame is not null; frame = frame.Caller)
        {
            var name = frame.CodeAddress.FullMethodName;
            if (name is not null && name.StartsWith(prefix, StringComparison.Ordinal))
            {
                site = name;
                break;
            }
        }

        if (site is null) continue;
        conductor += tick.AllocationAmount64;
        var key = tick.TypeName + "  @ " + (site.Length > 120 ? site[..120] : site);
        bySite[key] = bySite.GetValueOrDefault(key) + tick.AllocationAmount64;
    }

    Console.WriteLine($"sampled {all / 1048576.0:N0} MB in all; {conductor / 1048576.0:N0} MB with a {prefix}* frame = {conductor / (double)deliveries:N0} B per delivery over {deliveries:N0} deliveries");
    Console.WriteLine($"| B per delivery | type @ first {prefix}* frame |");
    Console.WriteLine("|---:|---|");
    foreach (var (key, bytes) in bySite.OrderByDescending(kv => kv.Value).Take(top)) Console.WriteLine($"| {bytes / (double)deliveries:N0} | {key.Replace("|", "/", StringComparison.Ordinal)} |");
    return 0;
}

static int Jit(string path, int top)
{
    using var source = new EventPipeEventSource(path);
    var started = new Dictionary<int, double>();
    var byFamily = new Dictionary<string, (double Ms, int Count)>();
    var byMethod = new Dictionary<string, (double Ms, int Count)>();
    source.Clr.MethodJittingStarted += e => started[e.ThreadID] = e.TimeStampRelativeMSec;
    source.Clr.MethodLoadVerbose += e =>
    {
        if (!started.Remove(e.ThreadID, out var at)) return;
        var ms = e.TimeStampRelativeMSec - at;
        var family = Family(e.MethodNamespace) + " [" + e.OptimizationTier + "]";
        var f = byFamily.GetValueOrDefault(family);
        byFamily[family] = (f.Ms + ms, f.Count + 1);
        var method = e.MethodNamespace + "::" + e.MethodName + " [" + e.OptimizationTier + "]";
        var m = byMethod.GetValueOrDefault(method);
        byMethod[method] = (m.Ms + ms, m.Count + 1);
    };
    source.Process();
    Console.WriteLine($"JIT: {byFamily.Values.Sum(v => v.Count):N0} methods, {byFamily.Values.Sum(v => v.Ms):N0} ms of wall time on the compiling threads");
    Console.WriteLine("| ms | methods | family [tier] |");
    Console.WriteLine("|---:|---:|---|");
    foreach (var (family, (ms, count)) in byFamily.OrderByDescending(kv => kv.Value.Ms).Take(top)) Console.WriteLine($"| {ms:N0} | {count:N0} | {family} |");
    Console.WriteLine();
    foreach (var (method, (ms, count)) in byMethod.OrderByDescending(kv => kv.Value.Ms).Take(top)) Console.WriteLine($"{ms,8:N1} ms {count,4}  {(method.Length > 160 ? method[..160] : method)}");
    return 0;
}

static string Family(string ns) => ns switch
{
    _ when ns.StartsWith("Conductor.Sdk", StringComparison.Ordinal) => "Conductor.Sdk",
    _ when ns.StartsWith("Polly", StringComparison.Ordinal) => "Polly",
    _ when ns.StartsWith("Npgsql", StringComparison.Ordinal) => "Npgsql",
    _ when ns.StartsWith("Microsoft.Data.Sqlite", StringComparison.Ordinal) || ns.StartsWith("SQLitePCL", StringComparison.Ordinal) => "Microsoft.Data.Sqlite",
    _ when ns.StartsWith("System.Runtime.CompilerServices.Async", StringComparison.Ordinal)
        || ns.StartsWith("System.Runtime.CompilerServices.PoolingAsync", StringComparison.Ordinal) => "async method builders",
    _ when ns.StartsWith("System.Net.Http", StringComparison.Ordinal) => "System.Net.Http",
    _ when ns.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) => "ASP.NET Core",
    _ when ns.StartsWith("Microsoft.Extensions", StringComparison.Ordinal) => "Microsoft.Extensions",
    _ when ns.StartsWith("System", StringComparison.Ordinal) => "System (other)",
    _ => "the benchmark and other",
};
