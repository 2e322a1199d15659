using Conductor.Sdk.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// The typed API emitted when the runtime is referenced: approved-file snapshots (rewritten in place when
/// CONDUCTOR_APPROVE=1), zero warnings with warnings as errors, no secret values.
/// </summary>
public sealed class TypedApiTests
{
    private static readonly Lazy<MetadataReference[]> RuntimeReferences = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray());

    internal static CSharpCompilation RuntimeCompilation(string source = "namespace Acme { public static class Marker { } }") =>
        CSharpCompilation.Create(
            "Consumer",
            new[] { CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions, path: "/project/Source0.cs") },
            RuntimeReferences.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999,
                generalDiagnosticOption: ReportDiagnostic.Error));

    private static IReadOnlyList<(string Name, string Text)> Inputs() =>
        GeneratorHarness.Samples()
            .Append(("kitchen-sink.yaml", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "KitchenSink", "kitchen-sink.yaml"))))
            .Append(("typed-orders.yaml", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "KitchenSink", "typed-orders.yaml"))))
            .ToList();

    private static (GeneratorRunResult Run, Compilation Output) Generate()
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var driver = GeneratorHarness.Driver(files, track: false).RunGeneratorsAndUpdateCompilation(RuntimeCompilation(), out var output, out _);
        return (driver.GetRunResult().Results.Single(), output);
    }

    [Fact]
    public void Generated_code_matches_the_approved_files()
    {
        var (run, _) = Generate();
        var approvedDirectory = Path.Combine(ModelTests.FindRepoRoot(), "tests", "Conductor.Sdk.Generators.Tests", "Approved");
        var rewrite = Environment.GetEnvironmentVariable("CONDUCTOR_APPROVE") == "1";
        var mismatches = new List<string>();
        Assert.Equal(7, run.GeneratedSources.Length);
        foreach (var source in run.GeneratedSources)
        {
            var path = Path.Combine(approvedDirectory, source.HintName + ".approved.txt");
            var actual = source.SourceText.ToString();
            if (rewrite)
            {
                File.WriteAllText(path, actual);
                continue;
            }

            if (!File.Exists(path)) mismatches.Add($"{source.HintName}: no approved file (run with CONDUCTOR_APPROVE=1 to create it)");
            else if (File.ReadAllText(path).ReplaceLineEndings("\n") != actual) mismatches.Add($"{source.HintName}: differs from {path} (review, then run with CONDUCTOR_APPROVE=1)");
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public void Generated_code_compiles_with_warnings_as_errors()
    {
        var (run, output) = Generate();
        Assert.Null(run.Exception);
        // The YAML warnings (CND0006, CND0010, and CND0018 for the bindings into undeclared outputs of the product
        // description's and the kitchen sink's ensembles) are promoted like any warning; nothing is an error by itself.
        // typed-orders.yaml, which declares everything, reports nothing.
        Assert.Equal(new[] { "CND0006", "CND0006", "CND0010" }, run.Diagnostics.Select(d => d.Id).Where(id => id != "CND0018").Order());
        Assert.Equal(16, run.Diagnostics.Count(d => d.Id == "CND0018"));
        Assert.DoesNotContain(run.Diagnostics, d => d.Location.GetLineSpan().Path.EndsWith("typed-orders.yaml", StringComparison.Ordinal));
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Contains(run.GeneratedSources, s => s.HintName == "ConductorEnsembles.g.cs");
    }

    private const string AgentSource = """
        using System.Text.Json;
        using Conductor.Sdk.Runner;
        using Microsoft.Extensions.DependencyInjection;

        namespace Acme
        {
            public sealed class HealthProbe : IAgent
            {
                public System.Threading.Tasks.ValueTask<JsonElement?> RunAsync(AgentContext context, System.Threading.CancellationToken cancellationToken) => default;
            }

            public static class Startup
            {
                public static void Configure(IServiceCollection services) =>
                    services.AddConductor().AddEnsembles()
                        .AddServerHealthCheck(agents => REGISTRATION);
            }
        }
        """;

    private static (GeneratorRunResult Run, Compilation Output) GenerateWith(string source)
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var driver = GeneratorHarness.Driver(files, track: false).RunGeneratorsAndUpdateCompilation(RuntimeCompilation(source), out var output, out _);
        return (driver.GetRunResult().Results.Single(), output);
    }

    [Fact]
    public void An_agent_left_out_of_the_registration_lambda_is_CND0015_on_the_call()
    {
        var (run, output) = GenerateWith(AgentSource.Replace("agents => REGISTRATION", "agents => { }"));
        var diagnostic = Assert.Single(run.Diagnostics, d => d.Id == "CND0015");
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Equal("/project/Source0.cs", diagnostic.Location.GetLineSpan().Path);
        // Line 16, column 18 (1-based): the method name AddServerHealthCheck.
        Assert.Equal(new Microsoft.CodeAnalysis.Text.LinePosition(15, 17), diagnostic.Location.GetLineSpan().StartLinePosition);
        Assert.Equal(
            "AddServerHealthCheck registers no implementation of agent 'check-health', which the flow of ensemble 'server-health-check' runs; add agents.CheckHealth<YourAgent>() to the lambda (YourAgent implements Conductor.Sdk.Runner.IAgent)",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.EndsWith("docs/diagnostics/CND0015.md", diagnostic.Descriptor.HelpLinkUri, StringComparison.Ordinal);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void A_complete_registration_has_no_CND0015_and_compiles()
    {
        var (run, output) = GenerateWith(AgentSource.Replace("REGISTRATION", "agents.CheckHealth<HealthProbe>()"));
        Assert.DoesNotContain(run.Diagnostics, d => d.Id == "CND0015");
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private const string TypedAgentSource = """
        using System;
        using System.Threading;
        using System.Threading.Tasks;
        using Acme.Ensembles;
        using Conductor.Sdk.Runner;
        using Microsoft.Extensions.DependencyInjection;

        namespace Acme
        {
            public sealed class PriceOrder : TypedOrdersEnsemble.IPriceOrderAgent
            {
                public ValueTask<TypedOrdersEnsemble.PriceOrderOutput> RunAsync(TypedOrdersEnsemble.Input input, AgentContext context, CancellationToken cancellationToken) =>
                    ValueTask.FromResult(new TypedOrdersEnsemble.PriceOrderOutput
                    {
                        Amount = input.Total * input.Quantity,
                        Currency = input.Express ? TypedOrdersEnsemble.PriceOrderCurrency.EUR : TypedOrdersEnsemble.PriceOrderCurrency.USD,
                        Lines = new[] { new TypedOrdersEnsemble.PriceOrderLine { Sku = input.Items[0].Sku, Price = 1m } },
                    });
            }

            public sealed class ShipOrder : TypedOrdersEnsemble.IShipOrderAgent
            {
                public ValueTask<TypedOrdersEnsemble.ShipOrderOutput> RunAsync(TypedOrdersEnsemble.Input input, AgentContext context, CancellationToken cancellationToken) =>
                    ValueTask.FromResult(new TypedOrdersEnsemble.ShipOrderOutput { Tracking = "1Z-" + input.OrderId, ShippedAt = input.PlacedAt.AddDays(input.Priority == TypedOrdersEnsemble.InputPriority.High ? 0 : 1) });
            }

            public static class Startup
            {
                public static void Configure(IServiceCollection services) =>
                    services.AddConductor().AddTypedOrders(agents => agents.PriceOrder<PriceOrder>().ShipOrder<SHIP>());

                public static string? City(TypedOrdersEnsemble.Output output) => output.Address.Geo is { } geo ? geo.Lat + "," + geo.Lng : output.Address.City;
            }
        }
        """;

    [Fact]
    public void Typed_agents_implement_the_generated_contracts_and_register_without_warnings()
    {
        var (run, output) = GenerateWith(TypedAgentSource.Replace("SHIP", "ShipOrder"));
        Assert.DoesNotContain(run.Diagnostics, d => d.Id == "CND0015");
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void An_agent_that_does_not_implement_the_typed_contract_does_not_compile()
    {
        // PriceOrder returns PriceOrderOutput, not ShipOrderOutput: the registration's constraint rejects it.
        var (_, output) = GenerateWith(TypedAgentSource.Replace("SHIP", "PriceOrder"));
        var error = Assert.Single(output.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal("CS0311", error.Id);
        Assert.Contains("IAgent<Acme.Ensembles.TypedOrdersEnsemble.Input, Acme.Ensembles.TypedOrdersEnsemble.ShipOrderOutput>", error.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void Agents_registered_as_typed_lambdas_count_for_CND0015_and_compile_without_warnings()
    {
        // Fakes in a test: (input, context) => output, and the async form, typed by the YAML's declarations.
        var lambdas = TypedAgentSource.Replace(
            "agents => agents.PriceOrder<PriceOrder>().ShipOrder<SHIP>()",
            "agents => agents.PriceOrder((input, context) => new() { Amount = 1m, Currency = TypedOrdersEnsemble.PriceOrderCurrency.EUR, Lines = null })"
            + ".ShipOrder(async (input, context, token) => { await Task.Yield(); return new TypedOrdersEnsemble.ShipOrderOutput { Tracking = input.OrderId, ShippedAt = input.PlacedAt }; })");
        var (run, output) = GenerateWith(lambdas);
        Assert.DoesNotContain(run.Diagnostics, d => d.Id == "CND0015");
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        // A lambda that returns the wrong step's output does not compile; one left out is still CND0015.
        var (_, wrong) = GenerateWith(TypedAgentSource.Replace(
            "agents => agents.PriceOrder<PriceOrder>().ShipOrder<SHIP>()",
            "agents => agents.PriceOrder<PriceOrder>().ShipOrder((input, context) => new TypedOrdersEnsemble.PriceOrderOutput { Amount = 1m, Currency = TypedOrdersEnsemble.PriceOrderCurrency.EUR, Lines = null })"));
        var error = wrong.GetDiagnostics().First(d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal("CS0029", error.Id);
        Assert.Contains("to 'Acme.Ensembles.TypedOrdersEnsemble.ShipOrderOutput'", error.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        var (missing, _) = GenerateWith(TypedAgentSource.Replace(
            "agents => agents.PriceOrder<PriceOrder>().ShipOrder<SHIP>()",
            "agents => agents.PriceOrder((input, context) => new() { Amount = 1m, Currency = TypedOrdersEnsemble.PriceOrderCurrency.EUR, Lines = null })"));
        Assert.Contains("agent 'ship-order'", Assert.Single(missing.Diagnostics, d => d.Id == "CND0015").GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void CND0015_names_the_typed_contract_of_a_declared_agent()
    {
        var (run, _) = GenerateWith(TypedAgentSource.Replace(".ShipOrder<SHIP>()", string.Empty));
        var diagnostic = Assert.Single(run.Diagnostics, d => d.Id == "CND0015");
        Assert.Equal(
            "AddTypedOrders registers no implementation of agent 'ship-order', which the flow of ensemble 'typed-orders' runs; add agents.ShipOrder<YourAgent>() to the lambda (YourAgent implements TypedOrdersEnsemble.IShipOrderAgent)",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Output_keys_named_like_members_of_the_generated_types_get_a_usable_property_name()
    {
        var yaml = "name: members\ninput: {readJson: string, writeJson: int}\nflow:\n  - agent: a\n    output: {toJson: bool}\noutputs:\n  readJson: ${input.readJson}\n  toJson: ${a.output.toJson}\n  equals: ${input.writeJson}\n";
        var files = new[] { (AdditionalText)new InMemoryAdditionalText("/project/ensembles/members.yaml", yaml) };
        var driver = GeneratorHarness.Driver(files, track: false).RunGeneratorsAndUpdateCompilation(RuntimeCompilation(), out var output, out _);
        Assert.Empty(driver.GetRunResult().Diagnostics);
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var source = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith("Members.Ensemble.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("[JsonPropertyName(\"readJson\")] public required string ReadJsonValue", source, StringComparison.Ordinal);
        Assert.Contains("[JsonPropertyName(\"equals\")] public required int EqualsValue", source, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ensemble_named_ensembles_does_not_collide_with_AddEnsembles()
    {
        var files = new[] { (AdditionalText)new InMemoryAdditionalText("/project/ensembles/ensembles.yaml", "name: ensembles\nflow:\n  - agent: tidy\n") };
        var driver = GeneratorHarness.Driver(files, track: false).RunGeneratorsAndUpdateCompilation(RuntimeCompilation(), out var output, out _);
        Assert.Null(driver.GetRunResult().Results.Single().Exception);
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var registration = driver.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName == "ConductorEnsembles.g.cs").SourceText.ToString();
        Assert.Contains("AddEnsemblesEnsemble(this global::Microsoft.Extensions.DependencyInjection.ConductorBuilder builder, global::System.Action<", registration);
    }

    [Fact]
    public void Generated_code_contains_no_secret_values()
    {
        var (run, _) = Generate();
        var all = string.Join("\n", run.GeneratedSources.Select(s => s.SourceText.ToString()));
        Assert.DoesNotContain("literal-secret-do-not-emit", all);
        Assert.DoesNotContain("op-literal-token-do-not-emit", all);
        // Values that only read configuration (spaces inside the braces too) are resolved when sending, never stored.
        Assert.Contains("resolvedAtSend: new string[] { \"to\", \"accountSid\" }", all);
        // Configuration values are asked for by name only.
        Assert.Contains("ctx.Env(\"KITCHEN_SECRET\")", all);
    }

    [Fact]
    public void Without_the_runtime_only_constants_are_emitted()
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var (result, output, _) = GeneratorHarness.Run(files);
        var sources = result.Results.Single().GeneratedSources;
        Assert.DoesNotContain(sources, s => s.HintName == "ConductorEnsembles.g.cs");
        Assert.All(sources, s => Assert.Contains("public sealed class NotificationInfo", s.SourceText.ToString()));
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void Caching_holds_with_the_typed_emission()
    {
        var files = Inputs().Select(i => (AdditionalText)new InMemoryAdditionalText("/project/ensembles/" + i.Name, i.Text)).ToList();
        var compilation = RuntimeCompilation();
        var driver = GeneratorHarness.Driver(files).RunGenerators(compilation);
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.First(),
            CSharpSyntaxTree.ParseText("namespace Acme { public static class Marker { public static int X; } }", GeneratorHarness.ParseOptions, path: "/project/Source0.cs"));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();
        foreach (var step in new[] { EnsembleGenerator.Steps.RuntimeReference, EnsembleGenerator.Steps.EnsembleSources, EnsembleGenerator.Steps.Registration })
        {
            Assert.All(second.TrackedSteps[step].SelectMany(s => s.Outputs), o => Assert.True(
                o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }

        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }
}

/// <summary>The compiled templates of the kitchen-sink ensemble, loaded and run.</summary>
public sealed class CompiledTemplateTests
{
    [Fact]
    public void Compiled_templates_render_every_binding_root()
    {
        var files = new[] { (AdditionalText)new InMemoryAdditionalText("/project/ensembles/kitchen-sink.yaml", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "KitchenSink", "kitchen-sink.yaml"))) };
        GeneratorHarness.Driver(files, track: false).RunGeneratorsAndUpdateCompilation(TypedApiTests.RuntimeCompilation(), out var output, out _);
        using var stream = new MemoryStream();
        var emit = output.Emit(stream);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var context = new System.Runtime.Loader.AssemblyLoadContext("kitchen-sink", isCollectible: true);
        try
        {
            stream.Position = 0;
            var assembly = context.LoadFromStream(stream);
            var type = assembly.GetType("Acme.Ensembles.KitchenSinkEnsemble")!;
            var requirements = (IEnumerable<Conductor.Sdk.Ensembles.EnvironmentRequirement>)type.GetProperty("EnvironmentRequirements")!.GetValue(null)!;
            var configuration = Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), new Dictionary<string, string?>
            {
                ["HOOK_PATH"] = "orders", ["KITCHEN_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ["ONCALL_EMAIL"] = "oncall@example.com", ["KITCHEN_TWILIO_SID"] = "AC0",
                ["ONCALL_PHONE"] = "+14155550199", ["TWILIO_PHONE_NUMBER"] = "+14155550111",
            }).Build();
            var environment = Conductor.Sdk.Ensembles.EnsembleEnvironment.Read(configuration, requirements);
            var notifications = (IReadOnlyList<Conductor.Sdk.Notifications.NotificationDefinition>)type.GetMethod("CreateNotifications")!.Invoke(null, new object[] { environment })!;

            var webhook = Assert.IsType<Conductor.Sdk.Notifications.WebhookNotificationDefinition>(notifications[0]);
            Assert.Equal("https://hooks.example.com/orders", webhook.Url.ToString());
            Assert.Equal(new Dictionary<string, string> { ["X-Ensemble"] = "kitchen-sink", ["X-Static"] = "fixed {value}" }, webhook.Headers);
            Assert.Empty(Assert.IsType<Conductor.Sdk.Notifications.WebhookNotificationDefinition>(notifications[1]).Secrets);

            var at = new DateTimeOffset(2024, 1, 15, 10, 30, 15, TimeSpan.Zero);
            var output1 = System.Text.Json.JsonDocument.Parse("""{"orderId":"A-17"}""").RootElement;
            var completed = new Conductor.Sdk.Events.ExecutionCompleted(at, "kitchen-sink", "exec-1", output1, 640);
            var ctx = new Conductor.Sdk.Ensembles.TemplateContext("kitchen-sink", completed, environment);
            var push = Assert.IsType<Conductor.Sdk.Notifications.PushNotificationDefinition>(notifications[4]);
            Assert.Equal("Order A-17 shipped!", push.Title!.Render(ctx));
            Assert.Equal("Status: true / true", push.Body!.Render(ctx));
            Assert.Equal("https://cdn.example.com/A-17.png", push.Image!.Render(ctx));

            var failed = new Conductor.Sdk.Events.ExecutionFailed(at, "kitchen-sink", "exec-2", new Conductor.Sdk.Events.ErrorInfo("disk full", "System.IO.IOException"), 10);
            var email = Assert.IsType<Conductor.Sdk.Notifications.EmailNotificationDefinition>(notifications[2]);
            var failedCtx = new Conductor.Sdk.Ensembles.TemplateContext("kitchen-sink", failed, environment);
            Assert.Equal("[execution.failed] kitchen-sink at 2024-01-15T10:30:15.000Z: disk full (System.IO.IOException)", email.Subject.Render(failedCtx));
            Assert.Equal(new[] { "ops@example.com", "oncall@example.com" }, email.To.Select(t => t.Render(failedCtx)));

            var started = new Conductor.Sdk.Events.ExecutionStarted(at, "kitchen-sink", "exec-3", System.Text.Json.JsonDocument.Parse("""{"items":["first","second"],"userId":"u-9"}""").RootElement);
            var sms = Assert.IsType<Conductor.Sdk.Notifications.SmsNotificationDefinition>(notifications[3]);
            var timedOut = new Conductor.Sdk.Events.ExecutionTimedOut(at, "kitchen-sink", "exec-3", 30001, 30000);
            Assert.Equal("kitchen-sink timed out after 30001 ms (limit 30000); first item ", sms.Body.Render(new Conductor.Sdk.Ensembles.TemplateContext("kitchen-sink", timedOut, environment)));
            Assert.Equal("u-9", push.Targets["topic"].Render(new Conductor.Sdk.Ensembles.TemplateContext("kitchen-sink", started, environment)));
            Assert.Equal("+14155550199", sms.To[1].Render(ctx));
        }
        finally
        {
            context.Unload();
        }
    }
}
