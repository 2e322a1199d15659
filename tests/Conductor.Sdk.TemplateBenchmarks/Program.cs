using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.Extensions.Configuration;
using TemplateBenchmarks.Ensembles;
using YamlDotNet.RepresentationModel;

// dotnet run -c Release --project tests/Conductor.Sdk.TemplateBenchmarks -- --filter '*'
var config = DefaultConfig.Instance.AddJob(Job.ShortRun.WithWarmupCount(10).WithIterationCount(15));
BenchmarkSwitcher.FromAssembly(typeof(TemplateRendering).Assembly).Run(args, config);

/// <summary>
/// One email subject rendered for one event: the generator's compiled C# against a run-time renderer that
/// finds the <c>${...}</c> bindings with a compiled regex and resolves each path on the same event.
/// </summary>
[MemoryDiagnoser]
public class TemplateRendering
{
    private TemplateContext _context;
    private CompiledTemplate _compiled = null!;
    private ExecutionCompleted _event = null!;

    [GlobalSetup]
    public void Setup()
    {
        var environment = Inputs.Environment();
        var email = (EmailNotificationDefinition)OrdersEnsemble.CreateNotifications(environment)[2];
        _compiled = email.Subject;
        _event = new ExecutionCompleted(DateTimeOffset.UnixEpoch, OrdersEnsemble.Name, "exec-1",
            JsonDocument.Parse("""{"orderId":"A-1029"}""").RootElement.Clone(), 1234);
        _context = new TemplateContext(OrdersEnsemble.Name, _event, environment);
        var compiled = Compiled();
        var interpreted = Interpreted();
        if (compiled != interpreted || compiled != "[execution.completed] orders: order A-1029 took 1234 ms")
        {
            throw new InvalidOperationException($"renderers disagree: '{compiled}' vs '{interpreted}'");
        }
    }

    [Benchmark(Description = "compiled template (generated C#)")]
    public string Compiled() => _compiled.Render(_context);

    [Benchmark(Baseline = true, Description = "run-time regex interpolation")]
    public string Interpreted() => RegexRenderer.Render(_compiled.Source, OrdersEnsemble.Name, _event);
}

/// <summary>
/// Start-up: the notification configs of 100 ensembles, built by the generated code from constants against
/// the same configs built by loading the YAML with YamlDotNet at run time.
/// </summary>
[MemoryDiagnoser]
public class StartupConfigs
{
    private const int Ensembles = 100;
    private EnsembleEnvironment _environment = null!;
    private string _yaml = null!;

    [GlobalSetup]
    public void Setup()
    {
        _environment = Inputs.Environment();
        _yaml = Inputs.Yaml();
        if (Generated() != Ensembles * 4 || RuntimeYaml() != Ensembles * 4) throw new InvalidOperationException("both paths must build 400 configs");
    }

    [Benchmark(Description = "generated configs, 100 ensembles")]
    public int Generated()
    {
        var count = 0;
        for (var i = 0; i < Ensembles; i++) count += OrdersEnsemble.CreateNotifications(_environment).Count;
        return count;
    }

    [Benchmark(Baseline = true, Description = "YamlDotNet at run time, 100 ensembles")]
    public int RuntimeYaml()
    {
        var count = 0;
        for (var i = 0; i < Ensembles; i++) count += RuntimeYamlLoader.Load(_yaml, _environment).Count;
        return count;
    }
}

internal static class Inputs
{
    public static EnsembleEnvironment Environment() => EnsembleEnvironment.Read(
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["INTERNAL_WEBHOOK_SECRET"] = "internal-secret",
            ["ANALYTICS_WEBHOOK_SECRET"] = "analytics-secret",
        }).Build(),
        OrdersEnsemble.EnvironmentRequirements);

    public static string Yaml()
    {
        using var stream = typeof(Inputs).Assembly.GetManifestResourceStream("orders.yaml")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>The comparison renderer: what a run-time template engine does for each render.</summary>
internal static class RegexRenderer
{
    private static readonly Regex Binding = new(@"\$\{\s*([^}]+?)\s*\}", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public static string Render(string template, string ensemble, ConductorEvent @event) =>
        Binding.Replace(template, match => Resolve(match.Groups[1].Value, ensemble, @event));

    private static string Resolve(string path, string ensemble, ConductorEvent @event)
    {
        var segments = path.Split('.');
        switch (segments[0])
        {
            case "event": return @event.Name;
            case "ensemble": return ensemble;
            case "data":
                if (@event is not ExecutionCompleted completed) return string.Empty;
                return segments[1] switch
                {
                    "id" => completed.Id,
                    "duration" => completed.Duration.ToString(CultureInfo.InvariantCulture),
                    "output" => Navigate(completed.Output, segments, 2),
                    _ => string.Empty,
                };
            default: return string.Empty;
        }
    }

    private static string Navigate(JsonElement? value, string[] segments, int start)
    {
        if (value is not { } element) return string.Empty;
        for (var i = start; i < segments.Length; i++)
        {
            if (!element.TryGetProperty(segments[i], out element)) return string.Empty;
        }

        return element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText();
    }
}

/// <summary>The comparison loader: YAML read at run time into the same notification configs.</summary>
internal static class RuntimeYamlLoader
{
    public static IReadOnlyList<NotificationDefinition> Load(string yaml, EnsembleEnvironment environment)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var name = ((YamlScalarNode)root.Children[new YamlScalarNode("name")]).Value!;
        var result = new List<NotificationDefinition>();
        var index = 0;
        foreach (YamlMappingNode notification in (YamlSequenceNode)root.Children[new YamlScalarNode("notifications")])
        {
            string? Scalar(string key) => notification.Children.TryGetValue(new YamlScalarNode(key), out var node) ? ((YamlScalarNode)node).Value : null;
            IEnumerable<string> List(string key) => ((YamlSequenceNode)notification.Children[new YamlScalarNode(key)]).Children.Select(n => ((YamlScalarNode)n).Value!);
            string Env(string? value) => value is not null && value.StartsWith("${env.", StringComparison.Ordinal) ? environment.Get(value[6..^1]) : value ?? string.Empty;
            var events = List("events").ToArray();
            switch (Scalar("type"))
            {
                case "webhook":
                    var headers = notification.Children.TryGetValue(new YamlScalarNode("headers"), out var h)
                        ? ((YamlMappingNode)h).Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value == "${ensemble.name}" ? name : ((YamlScalarNode)p.Value).Value!)
                        : null;
                    result.Add(new WebhookNotificationDefinition(name, index, events, new Uri(Scalar("url")!), new[] { Env(Scalar("secret")) }, headers: headers));
                    break;
                case "email":
                    var subject = Scalar("subject")!;
                    result.Add(new EmailNotificationDefinition(name, index, events, null,
                        List("to").Select(t => new CompiledTemplate(t, (in TemplateContext _) => t)).ToArray(),
                        new CompiledTemplate(Scalar("from")!, (in TemplateContext _) => Scalar("from")!),
                        new CompiledTemplate(subject, (in TemplateContext c) => subject)));
                    break;
            }

            index++;
        }

        return result;
    }
}
