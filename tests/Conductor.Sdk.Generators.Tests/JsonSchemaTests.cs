using System.Text.Json.Nodes;
using Conductor.Sdk.Model;
using Json.Schema;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// Issue #22 point 2: schema/ensemble.schema.json (generated from the model, see the CLI's schema test) agrees with the
/// build. Every sample and test ensemble, and every YAML case of the diagnostic tests, is validated against it: the
/// schema accepts a file exactly when the build reports no structural diagnostic for it (a missing required field,
/// an unknown type, event or key, a number out of range).
/// </summary>
public sealed class JsonSchemaTests(ITestOutputHelper output)
{
    /// <summary>The diagnostics a schema can express: they are about keys, types, enums, ranges and required fields.</summary>
    private static readonly HashSet<string> Structural = ["CND0002", "CND0003", "CND0004", "CND0011", "CND0013"];

    /// <summary>
    /// Cases the schema cannot decide either way, with the reason: it checks structure, these rules look inside values.
    /// </summary>
    private static readonly Dictionary<string, string> Undecidable = new()
    {
        ["CND0001"] = "YAML syntax errors: the file cannot be read as YAML at all, so there is nothing to validate",
        ["CND0019"] = "type declarations: a schema cannot tell [low, string] (ambiguous) from [low, high] (an enum)",
    };

    private static readonly JsonSchema Schema = JsonSchema.FromFile(Path.Combine(ModelTests.FindRepoRoot(), "schema", "ensemble.schema.json"));

    public static IEnumerable<object[]> Files()
    {
        var root = ModelTests.FindRepoRoot();
        return new[] { "samples", "tests" }
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(root, folder), "*.yaml", SearchOption.AllDirectories))
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(path => new object[] { Path.GetRelativePath(root, path) })
            .OrderBy(p => (string)p[0], StringComparer.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_sample_and_test_ensemble_gets_the_same_verdict_from_the_schema_and_the_build(string file)
    {
        var text = File.ReadAllText(Path.Combine(ModelTests.FindRepoRoot(), file));
        var verdict = Check(file, text);
        Assert.True(verdict.Agrees, verdict.Explain);
    }

    [Fact]
    public void Every_YAML_case_of_the_diagnostic_tests_gets_the_same_verdict_from_the_schema_and_the_build()
    {
        var cases = DiagnosticCases().ToList();
        var disagreements = new List<string>();
        int accepted = 0, rejected = 0, undecidable = 0;
        foreach (var (name, yaml) in cases)
        {
            var verdict = Check(name, yaml);
            if (verdict.Undecidable) undecidable++;
            else if (verdict.SchemaValid) accepted++;
            else rejected++;
            if (!verdict.Agrees) disagreements.Add(verdict.Explain);
        }

        output.WriteLine($"{cases.Count} cases: {accepted} valid and accepted, {rejected} structurally invalid and rejected, {undecidable} left to the build ({string.Join("; ", Undecidable.Values)})");
        Assert.True(disagreements.Count == 0, string.Join("\n\n", disagreements));
        // The extraction must keep finding the cases: there are dozens, most of them structurally invalid on purpose.
        Assert.True(cases.Count >= 40, $"only {cases.Count} YAML cases were found in the diagnostic tests");
        Assert.True(accepted >= 10 && rejected >= 5, $"{accepted} accepted and {rejected} rejected: both kinds must be exercised");
    }

    [Fact]
    public void The_schema_rejects_what_editors_should_underline()
    {
        // A typo'd key, an unknown event, a webhook without url, retries out of range, a push target of another provider.
        string[] invalid =
        [
            "name: a\nnotifcations: []\n",
            "name: a\nnotifications:\n  - type: webhook\n    url: https://x.example.com\n    events: [execution.finished]\n",
            "name: a\nnotifications:\n  - type: webhook\n    events: [execution.failed]\n",
            "name: a\nnotifications:\n  - type: webhook\n    url: https://x.example.com\n    events: [execution.failed]\n    retries: 9\n",
            "name: a\nnotifications:\n  - type: push\n    provider: apns\n    token: ${input.token}\n    title: Hi\n    events: [execution.failed]\n",
            "description: no name\n",
        ];
        foreach (var yaml in invalid) Assert.False(Validate(yaml).IsValid, "the schema accepted:\n" + yaml);
        Assert.True(Validate("name: a\nnotifications:\n  - type: push\n    provider: apns\n    deviceToken: ${input.token}\n    title: Hi\n    events: [execution.failed]\n").IsValid);
    }

    private sealed record Verdict(bool SchemaValid, bool Undecidable, bool Agrees, string Explain);

    private static Verdict Check(string name, string yaml)
    {
        var diagnostics = EnsembleParser.Parse("case.yaml", yaml).Diagnostics;
        var ids = diagnostics.Select(d => d.Id).ToHashSet();
        if (ids.Overlaps(Undecidable.Keys)) return new Verdict(false, true, true, string.Empty);
        var structural = ids.Where(Structural.Contains).ToList();
        var result = Validate(yaml);
        var agrees = result.IsValid == (structural.Count == 0);
        var explain = $"{name}: the schema {(result.IsValid ? "accepts" : "rejects")} it, but the build reports {(structural.Count == 0 ? "no structural diagnostic" : string.Join(", ", structural))}"
            + $"\nbuild: {string.Join(" | ", diagnostics.Select(d => d.Id + " " + d.Message))}"
            + $"\nschema: {string.Join(" | ", Errors(result))}\n---\n{yaml}";
        return new Verdict(result.IsValid, false, agrees, explain);
    }

    private static EvaluationResults Validate(string yaml) =>
        Schema.Evaluate(System.Text.Json.JsonSerializer.SerializeToElement(ToJson(yaml)), new EvaluationOptions { OutputFormat = OutputFormat.List });

    private static IEnumerable<string> Errors(EvaluationResults result) =>
        (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).Take(5);

    /// <summary>YAML as an editor's language server reads it (YAML 1.2 core schema): plain scalars may be numbers, booleans or null.</summary>
    internal static JsonNode? ToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(e => KeyValuePair.Create(((YamlScalarNode)e.Key).Value ?? string.Empty, Convert(e.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(Convert).ToArray()),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } scalar => PlainScalar(scalar.Value ?? string.Empty),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value ?? string.Empty),
        _ => throw new InvalidOperationException("unexpected YAML node " + node.NodeType),
    };

    private static JsonNode? PlainScalar(string value)
    {
        if (value is "" or "~" or "null" or "Null" or "NULL") return null;
        if (value is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (System.Text.RegularExpressions.Regex.IsMatch(value, "^[-+]?[0-9]+$") && long.TryParse(value, out var integer)) return JsonValue.Create(integer);
        if (System.Text.RegularExpressions.Regex.IsMatch(value, @"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")) return JsonValue.Create(double.Parse(value, System.Globalization.CultureInfo.InvariantCulture));
        return JsonValue.Create(value);
    }

    /// <summary>The value of a string expression made of literals, constants, <c>+</c> and <c>.Replace(literal, literal)</c>.</summary>
    private static string? Evaluate(ExpressionSyntax expression, IReadOnlyDictionary<string, string> constants) => expression switch
    {
        LiteralExpressionSyntax literal when literal.IsKind(SyntaxKind.StringLiteralExpression) => literal.Token.ValueText,
        IdentifierNameSyntax identifier => constants.GetValueOrDefault(identifier.Identifier.ValueText),
        MemberAccessExpressionSyntax { Expression: PredefinedTypeSyntax, Name.Identifier.ValueText: "Empty" } => string.Empty,
        InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "TrimEnd" } trimmed, ArgumentList.Arguments.Count: 0 } =>
            Evaluate(trimmed.Expression, constants)?.TrimEnd(),
        BinaryExpressionSyntax binary when binary.IsKind(SyntaxKind.AddExpression) =>
            Evaluate(binary.Left, constants) is { } left && Evaluate(binary.Right, constants) is { } right ? left + right : null,
        InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Replace" } access, ArgumentList.Arguments: [var from, var to] } =>
            Evaluate(access.Expression, constants) is { } target && Evaluate(from.Expression, constants) is { } a && Evaluate(to.Expression, constants) is { } b ? target.Replace(a, b, StringComparison.Ordinal) : null,
        _ => null,
    };

    /// <summary>
    /// The YAML of every <c>GeneratorVerifier.VerifyAsync(yaml, ...)</c> call in this project's tests: a string literal,
    /// or a constant of the same class.
    /// </summary>
    private static IEnumerable<(string Name, string Yaml)> DiagnosticCases()
    {
        var folder = Path.Combine(ModelTests.FindRepoRoot(), "tests", "Conductor.Sdk.Generators.Tests");
        foreach (var file in Directory.EnumerateFiles(folder, "*.cs").Order(StringComparer.Ordinal))
        {
            var tree = CSharpSyntaxTree.ParseText(File.ReadAllText(file));
            var constants = tree.GetRoot().DescendantNodes().OfType<FieldDeclarationSyntax>()
                .Where(f => f.Modifiers.Any(SyntaxKind.ConstKeyword))
                .SelectMany(f => f.Declaration.Variables)
                .Where(v => v.Initializer?.Value is LiteralExpressionSyntax)
                .ToDictionary(v => v.Identifier.ValueText, v => ((LiteralExpressionSyntax)v.Initializer!.Value).Token.ValueText);
            foreach (var call in tree.GetRoot().DescendantNodes().OfType<InvocationExpressionSyntax>())
            {
                // GeneratorVerifier.VerifyAsync(yaml, ...) or, for tests that set the harness up by hand,
                // test.TestState.AdditionalFiles.Add((path, yaml)).
                ExpressionSyntax? first = call switch
                {
                    { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "VerifyAsync", Expression: IdentifierNameSyntax { Identifier.ValueText: "GeneratorVerifier" } } } =>
                        call.ArgumentList.Arguments.FirstOrDefault()?.Expression,
                    { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Add", Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "AdditionalFiles" } }, ArgumentList.Arguments: [{ Expression: TupleExpressionSyntax { Arguments: [_, var content] } }] } =>
                        content.Expression,
                    _ => null,
                };
                if (first is null) continue;
                var yaml = Evaluate(first, constants) ?? throw new InvalidOperationException($"{Path.GetFileName(file)}({call.GetLocation().GetLineSpan().StartLinePosition.Line + 1}): the YAML of this case is not a literal, a constant or a Replace of one; teach Evaluate its form");
                var method = call.Ancestors().OfType<MethodDeclarationSyntax>().FirstOrDefault()?.Identifier.ValueText ?? "?";
                yield return ($"{Path.GetFileName(file)}: {method}", yaml);
            }
        }
    }
}
