using System.Collections.Immutable;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Conductor.Sdk.Benchmarks;

/// <summary>
/// The build cost of declared shapes (issue #16): 1,000 copies of the Quickstart's order-fulfilment ensemble with its
/// <c>input:</c> and <c>output:</c> declarations, against the same 1,000 ensembles without them, in the same run. The
/// compilation references the Conductor.Sdk runtime, so the generator emits the full typed API (records, readers and
/// writers, typed agents, JsonContext) that a real consumer compiles. Two costs: the generator run, and compiling its
/// output (binding and IL emission of the generated trees, as csc does after the generators ran).
/// </summary>
[MemoryDiagnoser]
[WarmupCount(2)]
[IterationCount(5)]
public class TypedBuildBenchmarks
{
    public const int EnsembleCount = 1_000;

    private CSharpCompilation _compilation = null!;
    private ImmutableArray<AdditionalText> _files;
    private Compilation _withGenerated = null!;

    [Params(false, true)]
    public bool Declared { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _compilation = CreateRuntimeCompilation();
        _files = Enumerable.Range(1, EnsembleCount)
            .Select(i => (AdditionalText)new InMemoryAdditionalText($"/project/ensembles/order-fulfilment-{i}.yaml", Yaml(i, Declared)))
            .ToImmutableArray();
        var driver = BenchmarkInputs.CreateDriver(_files).RunGeneratorsAndUpdateCompilation(_compilation, out _withGenerated, out _);
        BenchmarkInputs.Verify(driver, EnsembleCount + 1);
        var first = driver.GetRunResult().GeneratedTrees.First(t => t.FilePath.EndsWith("OrderFulfilment1.Ensemble.g.cs", StringComparison.Ordinal)).ToString();
        if (Declared != first.Contains("IShipOrderAgent", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The generator did not emit the " + (Declared ? "typed" : "untyped") + " API.");
        }

        var errors = _withGenerated.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0) throw new InvalidOperationException("The generated code does not compile: " + string.Join("; ", errors.Take(5)));
    }

    [Benchmark(Description = "Generator: new driver + RunGenerators, 1,000 ensembles")]
    public GeneratorDriver Generate() => BenchmarkInputs.CreateDriver(_files).RunGenerators(_compilation);

    [Benchmark(Description = "Compile the generated code of 1,000 ensembles (Emit)")]
    public bool Compile()
    {
        // A fresh compilation each time: Roslyn caches binding results inside a compilation object.
        var fresh = _compilation.AddSyntaxTrees(_withGenerated.SyntaxTrees.Skip(_compilation.SyntaxTrees.Length));
        var result = fresh.Emit(Stream.Null);
        return result.Success ? true : throw new InvalidOperationException("Emit failed: " + string.Join("; ", result.Diagnostics.Take(5)));
    }

    /// <summary>Copy <paramref name="index"/> of order-fulfilment, with or without its declarations.</summary>
    public static string Yaml(int index, bool declared)
    {
        var yaml = Regex.Replace(OrderFulfilment, "^name: .*$", $"name: order-fulfilment-{index}", RegexOptions.Multiline);
        if (declared) return yaml;
        // The same ensemble as written before declarations existed: no input:, no output: blocks.
        yaml = Regex.Replace(yaml, "^input:\\n(  .*\\n)+", string.Empty, RegexOptions.Multiline);
        return Regex.Replace(yaml, "^    output:\\n(      .*\\n)+", string.Empty, RegexOptions.Multiline);
    }

    private static CSharpCompilation CreateRuntimeCompilation()
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var local = Directory.GetFiles(AppContext.BaseDirectory, "*.dll").Where(p => Path.GetFileName(p) is var n && (n.StartsWith("Conductor.Sdk", StringComparison.Ordinal) || n.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) || n.StartsWith("Polly", StringComparison.Ordinal)));
        var references = trusted.Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Concat(local)
            .GroupBy(Path.GetFileName)
            .Select(g => MetadataReference.CreateFromFile(g.Last()));
        return CSharpCompilation.Create(
            "Bench",
            new[] { BenchmarkInputs.ParseCSharp(BenchmarkInputs.CSharpSource) },
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, optimizationLevel: OptimizationLevel.Debug));
    }

    /// <summary>samples/Quickstart/ensembles/quickstart/order-fulfilment.yaml as of issue #16, copied so that later edits to the sample do not change what is measured.</summary>
    private const string OrderFulfilment = """
        name: order-fulfilment
        description: Reserves stock and ships an order
        timeout: 10000
        input:
          orderId: string
          customerEmail: string
          priority: [standard, express]
          items: [{sku: string, quantity: int}]
        notifications:
          - type: webhook
            url: ${env.QUICKSTART_RECEIVER}/hooks/orders
            secret: ${env.QUICKSTART_WEBHOOK_SECRET}
            events: [execution.started, agent.completed, execution.completed]
          - type: email
            provider: file
            to: [ops@example.com]
            from: conductor@example.com
            subject: "[${event}] ${ensemble.name}: order ${data.output.orderId} shipped as ${data.output.trackingNumber}"
            events: [execution.completed]
        flow:
          - agent: reserve-stock
            output:
              reserved: bool
              warehouse: string
          - agent: ship-order
            condition: ${reserve-stock.output.reserved == true}
            output:
              trackingNumber: string
              carrier: string
              shippedAt: datetime
              note?: string
          - name: email-customer
            condition: ${ship-order.executed}
            operation: email
            config:
              provider: file
              to: ${input.customerEmail}
              from: shop@example.com
              subject: "Your order ${input.orderId} is on its way"
              text: "Tracking number: ${ship-order.output.trackingNumber} (${ship-order.output.carrier})"
        outputs:
          orderId: ${input.orderId}
          trackingNumber: ${ship-order.output.trackingNumber}
          shippedAt: ${ship-order.output.shippedAt}
          emailed: ${email-customer.executed}

        """;
}
