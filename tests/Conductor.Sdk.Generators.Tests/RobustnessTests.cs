using System.Text;
using Conductor.Sdk.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// The generator never throws: thousands of mutated ensembles each end in generated code or in at least
/// one located CND diagnostic, never in AD0001/CS8785 and never in silence.
/// </summary>
public sealed class RobustnessTests(ITestOutputHelper output)
{
    private const string Path = "/project/ensembles/mutant.yaml";

    private static readonly Compilation Compilation = GeneratorHarness.Compilation("namespace Acme { public static class Marker { } }");

    private sealed record Outcome(IReadOnlyList<Diagnostic> Diagnostics, int GeneratedSources)
    {
        public bool HasCndError => Diagnostics.Any(d => d.Id.StartsWith("CND", StringComparison.Ordinal) && d.Severity == DiagnosticSeverity.Error);
        public bool HasCnd => Diagnostics.Any(d => d.Id.StartsWith("CND", StringComparison.Ordinal));
    }

    private static Outcome Run(string text)
    {
        var driver = GeneratorHarness.Driver(new[] { new InMemoryAdditionalText(Path, text) }, track: false).RunGenerators(Compilation);
        var result = driver.GetRunResult();
        var run = result.Results.Single();
        Assert.Null(run.Exception);
        Assert.DoesNotContain(result.Diagnostics, d => d.Id is "CS8785" or "AD0001");
        foreach (var diagnostic in run.Diagnostics)
        {
            Assert.StartsWith("CND", diagnostic.Id);
            Assert.Equal(Path, diagnostic.Location.GetLineSpan().Path);
            Assert.False(string.IsNullOrWhiteSpace(diagnostic.GetMessage()));
        }

        return new Outcome(run.Diagnostics, run.GeneratedSources.Length);
    }

    /// <summary>A file either becomes code or explains why not; an error never comes with code.</summary>
    private static void AssertAccountedFor(Outcome outcome, string variant)
    {
        if (outcome.HasCndError)
        {
            Assert.True(outcome.GeneratedSources == 0, $"{variant}: code was generated despite an error");
        }
        else
        {
            Assert.True(outcome.GeneratedSources == 1, $"{variant}: no error was reported, yet no code was generated");
        }
    }

    [Fact]
    public void Two_thousand_mutations_never_throw_and_never_vanish()
    {
        var random = new Random(20261127);
        var samples = GeneratorHarness.Samples();
        var variants = 0;
        var withErrors = 0;
        foreach (var (name, text) in samples)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            for (var i = 0; i < 200 * Conductor.Sdk.Testing.ReliabilityResults.Scale; i++)
            {
                // Truncation at every kind of position: mid-key, mid-template, mid-quote.
                var cut = random.Next(0, text.Length);
                var outcome = Run(text.Substring(0, cut));
                AssertAccountedFor(outcome, $"{name} truncated at {cut}");
                withErrors += outcome.HasCndError ? 1 : 0;
                variants++;
            }

            for (var i = 0; i < 300 * Conductor.Sdk.Testing.ReliabilityResults.Scale; i++)
            {
                // Random byte flips, decoded as the compiler would (invalid UTF-8 becomes U+FFFD).
                var mutated = (byte[])bytes.Clone();
                var flips = random.Next(1, 6);
                for (var f = 0; f < flips; f++)
                {
                    mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
                }

                var outcome = Run(Encoding.UTF8.GetString(mutated));
                AssertAccountedFor(outcome, $"{name} with {flips} flipped bytes (variant {i})");
                withErrors += outcome.HasCndError ? 1 : 0;
                variants++;
            }
        }

        output.WriteLine($"{variants} variants, {withErrors} with errors");
        Assert.True(variants >= 2000);
        Assert.True(withErrors > variants / 4, "mutations should mostly break the files; the mutator is not doing its job");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile YAML", "mutated samples (truncations, byte flips): located CND diagnostics or code, never AD0001/CS8785", $"{variants} variants, {withErrors} with CND errors, 0 crashes");
    }

    [Fact]
    public void Binary_garbage_and_invalid_utf8_end_in_located_diagnostics()
    {
        // What a build reads from a file that is not text: the decoder turns invalid UTF-8 into U+FFFD, and NUL and control
        // characters come through as they are. Seeded, so a failure names a reproducible variant.
        var random = new Random(19);
        var variants = new List<string>
        {
            Encoding.UTF8.GetString(new byte[] { 0xC3, 0x28, 0xA0, 0xA1, 0xE2, 0x28, 0xA1, 0xF0, 0x28, 0x8C, 0xBC }), // invalid sequences
            "name: \uFFFD\uFFFD\nnotifications: []\n",
            "name: demo\0\nflow:\n  - agent: a\0b\n",
            "\u0001\u0002\u0003\u0004",
            "name: demo\nnotifications:\n  - type: webhook\n    url: \"https://\uFFFD.example.com/\u0007\"\n    events: [execution.completed]\n",
        };
        for (var i = 0; i < 300 * Conductor.Sdk.Testing.ReliabilityResults.Scale; i++)
        {
            var bytes = new byte[random.Next(1, 4096)];
            random.NextBytes(bytes);
            variants.Add(Encoding.UTF8.GetString(bytes));
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < variants.Count; i++)
        {
            var outcome = Run(variants[i]);
            AssertAccountedFor(outcome, $"garbage variant {i}");
            Assert.True(outcome.HasCnd || outcome.GeneratedSources == 1, $"garbage variant {i} vanished without a diagnostic");
        }

        // A hang guard, not a speed target: 305 files take well under a second here.
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), $"{variants.Count} garbage files took {clock.Elapsed}");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile YAML", "binary garbage and invalid UTF-8: located diagnostics, bounded time", $"{variants.Count} files in {clock.Elapsed.TotalSeconds:0.0} s, 0 crashes");
    }

    [Fact]
    public void Empty_and_whitespace_files_report_a_missing_name()
    {
        foreach (var text in new[] { string.Empty, "   ", "\n\n", "# only a comment\n", "\uFEFF", "---\n", "~" })
        {
            var outcome = Run(text);
            Assert.Contains(outcome.Diagnostics, d => d.Id == "CND0002");
            Assert.Equal(0, outcome.GeneratedSources);
        }
    }

    [Fact]
    public void Alias_bomb_is_refused_with_a_diagnostic()
    {
        var bomb = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i <= 9; i++)
        {
            bomb.Append($"a{i}: &a{i} [").Append(string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))).Append("]\n");
        }

        bomb.Append("name: bomb\nnotifications: *a9\n");
        var outcome = Run(bomb.ToString());
        var diagnostic = Assert.Single(outcome.Diagnostics);
        Assert.Equal("CND0001", diagnostic.Id);
        Assert.Contains("alias bomb", diagnostic.GetMessage());
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile YAML", "alias bomb (10^10 nodes): refused with a diagnostic", $"{diagnostic.Id}: {diagnostic.GetMessage()}");
    }

    [Fact]
    public void Deep_nesting_is_refused_with_a_diagnostic()
    {
        foreach (var text in new[] { "name: deep\nflow: " + new string('[', 100_000), "name: deep\nflow: " + string.Concat(Enumerable.Repeat("{a: ", 5_000)) })
        {
            var outcome = Run(text);
            Assert.Contains(outcome.Diagnostics, d => d.Id == "CND0001");
        }

        var deepExpression = "name: deep\nflow:\n  - agent: a\n  - name: b\n    condition: ${" + new string('(', 5000) + "true" + new string(')', 5000) + "}\n    operation: sms\n    config: {to: '+14155550100', body: x}\n";
        var expressionOutcome = Run(deepExpression);
        Assert.Contains(expressionOutcome.Diagnostics, d => d.Id == "CND0009" && d.GetMessage().Contains("nested deeper"));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile YAML", "100,000 nested brackets, 5,000 nested mappings, 5,000 nested parentheses: diagnostics", "CND0001, CND0001, CND0009");
    }

    [Fact]
    public void Five_megabyte_files_are_handled()
    {
        var (_, sample) = GeneratorHarness.Samples().Single(s => s.Name == "payment-processing.yaml");
        var repeated = new StringBuilder();
        while (repeated.Length < 5 * 1024 * 1024) repeated.Append(sample).Append('\n');
        var duplicateKeys = Run(repeated.ToString());
        Assert.Contains(duplicateKeys.Diagnostics, d => d.Id == "CND0001" && d.GetMessage().Contains("duplicate key"));

        var junk = new StringBuilder("name: junk\ndescription: ");
        var random = new Random(5);
        while (junk.Length < 5 * 1024 * 1024) junk.Append((char)random.Next(32, 127));
        var junkOutcome = Run(junk.ToString());
        AssertAccountedFor(junkOutcome, "5 MB of printable junk");
        Assert.True(junkOutcome.HasCnd);

        var bigList = new StringBuilder("name: big\nnotifications:\n");
        while (bigList.Length < 5 * 1024 * 1024) bigList.Append("  - type: webhook\n    url: https://api.example.com/x\n    events: [execution.failed]\n    secret: ${env.S}\n");
        var bigOutcome = Run(bigList.ToString());
        AssertAccountedFor(bigOutcome, "5 MB of notifications");
        Conductor.Sdk.Testing.ReliabilityResults.Record("Hostile YAML", "5 MB files (repeated sample, printable junk, 5 MB of notifications): handled", $"duplicate key reported; junk reported; {bigOutcome.GeneratedSources} source generated for the list");
    }

    [Fact]
    public void Tabs_used_for_indentation_are_a_syntax_error()
    {
        foreach (var (name, text) in GeneratorHarness.Samples())
        {
            var tabbed = string.Join("\n", text.Split('\n').Select(line => line.StartsWith("  ", StringComparison.Ordinal) ? "\t" + line.TrimStart(' ') : line));
            var outcome = Run(tabbed);
            Assert.True(outcome.Diagnostics.Any(d => d.Id == "CND0001"), $"{name}: tab indentation was not reported");
        }
    }

    [Fact]
    public void Bom_and_crlf_change_nothing_but_line_endings()
    {
        foreach (var (name, text) in GeneratorHarness.Samples())
        {
            var original = Run(text);
            foreach (var variant in new[] { "\uFEFF" + text, text.Replace("\n", "\r\n"), "\uFEFF" + text.Replace("\n", "\r\n") })
            {
                var outcome = Run(variant);
                Assert.Equal(original.GeneratedSources, outcome.GeneratedSources);
                Assert.Equal(
                    original.Diagnostics.Select(d => (d.Id, d.Location.GetLineSpan().StartLinePosition)),
                    outcome.Diagnostics.Select(d => (d.Id, d.Location.GetLineSpan().StartLinePosition)));
            }
        }
    }
}
