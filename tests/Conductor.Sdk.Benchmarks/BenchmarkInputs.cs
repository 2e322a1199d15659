using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Conductor.Sdk.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Conductor.Sdk.Benchmarks;

/// <summary>The inputs every benchmark shares: ensemble files, a small compilation and the MSBuild options.</summary>
public static class BenchmarkInputs
{
    /// <summary>
    /// A "typical" ensemble: a copy of samples/Quickstart/ensembles/payment-processing.yaml (four
    /// notifications, one flow step, one output, and the sample's deliberate CND0010 warning). Kept as a copy
    /// so that edits to the sample do not silently change what is measured.
    /// </summary>
    public const string TypicalEnsembleTemplate = """
        name: payment-processing
        notifications:
          # Webhook for internal systems
          - type: webhook
            url: https://internal.example.com/events
            events:
              - execution.completed
              - execution.failed
            secret: ${env.INTERNAL_WEBHOOK_SECRET}
          # Webhook for analytics
          - type: webhook
            url: https://analytics.example.com/track
            events:
              - execution.completed
            secret: ${env.ANALYTICS_WEBHOOK_SECRET}
          # Email for finance team (all completions)
          - type: email
            to: [finance@example.com]
            from: payments@example.com
            # The product description's own mistake, kept on purpose: execution events carry no
            # 'orderId' in data, so the build warns (CND0010) and suggests data.output.<key>.
            subject: "Payment ${event}: ${data.orderId}"
            events:
              - execution.completed
              - execution.failed
          # Email for DevOps (failures only)
          - type: email
            to: [devops@example.com]
            from: alerts@example.com
            subject: "[ALERT] Payment Failed"
            events:
              - execution.failed
              - execution.timeout
        flow:
          - agent: process-payment
        outputs:
          transactionId: ${process-payment.output.transactionId}

        """;

    private const string AlertSubject = "subject: \"[ALERT] Payment Failed\"";

    /// <summary>The root namespace handed to the generator as <c>build_property.RootNamespace</c>.</summary>
    public const string RootNamespace = "Bench";

    /// <summary>The one C# file of the compilation, and its edited twin (a changed method body).</summary>
    public const string CSharpSource = """
        namespace Bench;

        public static class Startup
        {
            public static int Answer() => 42;
        }

        """;

    /// <inheritdoc cref="CSharpSource"/>
    public const string CSharpSourceEdited = """
        namespace Bench;

        public static class Startup
        {
            public static int Answer() => 43;
        }

        """;

    public static readonly CSharpParseOptions ParseOptions = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest);

    /// <summary>The ensemble name of file <paramref name="index"/>: <c>payment-processing-17</c>.</summary>
    public static string EnsembleName(int index) => $"payment-processing-{index}";

    /// <summary>The typical YAML with a unique name; <paramref name="edit"/> 0 is unedited, 1 and 2 change one subject line.</summary>
    public static string EnsembleYaml(int index, int edit = 0)
    {
        var yaml = Regex.Replace(TypicalEnsembleTemplate, "^name: .*$", "name: " + EnsembleName(index), RegexOptions.Multiline);
        if (edit != 0)
        {
            yaml = yaml.Replace(AlertSubject, $"subject: \"[ALERT] Payment Failed (edit {edit})\"", StringComparison.Ordinal);
        }

        return yaml;
    }

    /// <summary>The ensemble file <paramref name="index"/> as the compiler would hand it over.</summary>
    public static AdditionalText EnsembleFile(int index, int edit = 0) =>
        new InMemoryAdditionalText($"/project/ensembles/{EnsembleName(index)}.yaml", EnsembleYaml(index, edit));

    /// <summary><paramref name="count"/> typical ensemble files, numbered from 1.</summary>
    public static ImmutableArray<AdditionalText> EnsembleFiles(int count) =>
        Enumerable.Range(1, count).Select(i => EnsembleFile(i)).ToImmutableArray();

    public static SyntaxTree ParseCSharp(string source) =>
        CSharpSyntaxTree.ParseText(source, ParseOptions, path: "/project/Startup.cs");

    /// <summary>One small C# file, referencing every trusted platform assembly of the running runtime.</summary>
    public static CSharpCompilation CreateCompilation()
    {
        var trusted = (string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")
            ?? throw new InvalidOperationException("The runtime exposes no TRUSTED_PLATFORM_ASSEMBLIES.");
        var references = trusted
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(path => path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Select(path => MetadataReference.CreateFromFile(path));
        return CSharpCompilation.Create(
            "Bench",
            new[] { ParseCSharp(CSharpSource) },
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
    }

    public static AnalyzerConfigOptionsProvider OptionsProvider { get; } =
        new InMemoryAnalyzerConfigOptionsProvider(new Dictionary<string, string> { ["build_property.RootNamespace"] = RootNamespace });

    /// <summary>A fresh driver with no cached state.</summary>
    public static GeneratorDriver CreateDriver(ImmutableArray<AdditionalText> files, bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            new[] { new EnsembleGenerator().AsSourceGenerator() },
            files,
            ParseOptions,
            OptionsProvider,
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>
    /// Fails loudly when a run did not do the work being measured: every file must give one source, no error may be
    /// reported, and the namespace must come from the options provider.
    /// </summary>
    public static void Verify(GeneratorDriver driver, int expectedSources)
    {
        var result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null) throw new InvalidOperationException("The generator threw.", result.Exception);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0) throw new InvalidOperationException("The generator reported errors: " + string.Join("; ", errors.Take(5)));
        // One source per ensemble, plus the AddEnsembles registration when the runtime is referenced.
        var ensembles = result.GeneratedSources.Where(s => s.HintName != "ConductorEnsembles.g.cs").ToList();
        if (ensembles.Count != expectedSources)
        {
            throw new InvalidOperationException($"Expected {expectedSources} generated ensemble sources, got {ensembles.Count}.");
        }

        var first = ensembles[0].SourceText.ToString();
        if (!first.Contains($"namespace {RootNamespace}.Ensembles", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The generated source does not use the RootNamespace from the options provider.");
        }
    }
}

/// <summary>An AdditionalFile held in memory.</summary>
public sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text, System.Text.Encoding.UTF8);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>Analyzer config options backed by a dictionary (keys compared case-insensitively, as the compiler does).</summary>
public sealed class InMemoryAnalyzerConfigOptions(IReadOnlyDictionary<string, string> values) : AnalyzerConfigOptions
{
    public static readonly InMemoryAnalyzerConfigOptions Empty = new(new Dictionary<string, string>());

    private readonly Dictionary<string, string> _values = new(values, StringComparer.OrdinalIgnoreCase);

    public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) =>
        _values.TryGetValue(key, out value);

    public override IEnumerable<string> Keys => _values.Keys;
}

/// <summary>Global options only (MSBuild properties); no per-file options or metadata.</summary>
public sealed class InMemoryAnalyzerConfigOptionsProvider(IReadOnlyDictionary<string, string> globalOptions) : AnalyzerConfigOptionsProvider
{
    public override AnalyzerConfigOptions GlobalOptions { get; } = new InMemoryAnalyzerConfigOptions(globalOptions);

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => InMemoryAnalyzerConfigOptions.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => InMemoryAnalyzerConfigOptions.Empty;
}
