using System.Globalization;
using System.Text.Json;
using Conductor.Sdk.Events;

namespace Conductor.Sdk.Ensembles;

/// <summary>A template compiled by the generator: builds the text for one event.</summary>
public delegate string TemplateRenderer(in TemplateContext context);

/// <summary>
/// What a compiled <c>${...}</c> template reads: the event, the ensemble, and the configuration values
/// its <c>${env.NAME}</c> bindings resolved to at start-up. Paths are constant arrays emitted by the
/// generator; nothing is parsed at run time. A value the event does not carry renders empty (the
/// generator warns about those at compile time, CND0010).
/// </summary>
public readonly struct TemplateContext
{
    private readonly ConductorEvent? _event;
    private readonly EnsembleEnvironment _environment;
    private readonly Runner.ExecutionScope? _scope;

    /// <summary>Creates a context for one event (null for values fixed at start-up).</summary>
    public TemplateContext(string ensemble, ConductorEvent? @event, EnsembleEnvironment environment)
    {
        Ensemble = ensemble;
        _event = @event;
        _environment = environment;
        _scope = null;
    }

    /// <summary>Creates a context for a running flow: conditions, step configs and outputs read step results from it.</summary>
    public TemplateContext(Runner.ExecutionScope scope, EnsembleEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(scope);
        Ensemble = scope.Ensemble;
        _event = null;
        _environment = environment;
        _scope = scope;
    }

    /// <summary><c>${step.output.a.b}</c>: a field of a step's output while the flow runs (empty outside a run or when the step was skipped).</summary>
    public TemplateValue Step(string step, TemplatePath path) => _scope is null ? TemplateValue.Empty : TemplateValues.Navigate(_scope.OutputOf(step), path, 0);

    /// <summary><c>${step.executed}</c>: whether the step ran in this run.</summary>
    public bool Executed(string step) => _scope?.Executed(step) ?? false;

    /// <summary><c>${previous.output.a}</c>: the output of the step that ran last.</summary>
    public TemplateValue Previous(TemplatePath path) => _scope is null ? TemplateValue.Empty : TemplateValues.Navigate(_scope.Previous, path, 0);

    /// <summary><c>${ensemble.name}</c></summary>
    public string Ensemble { get; }

    /// <summary><c>${event}</c></summary>
    public string Event => _event?.Name ?? string.Empty;

    /// <summary><c>${timestamp}</c>: the event time, ISO 8601 UTC with milliseconds.</summary>
    public TemplateValue Timestamp => _event is null ? TemplateValue.Empty : TemplateValue.Text(EventPayload.FormatTimestamp(_event.Timestamp));

    /// <summary><c>${env.NAME}</c>: the configuration value read at start-up.</summary>
    public string Env(string name) => _environment.Get(name);

    /// <summary><c>${data.a.b}</c>: a field of the event's <c>data</c> object.</summary>
    public TemplateValue Data(TemplatePath path)
    {
        if (_event is null || path.Length == 0) return TemplateValue.Empty;
        var field = path.Names[0];
        var single = path.Length == 1;
        // Every event's data carries the ensemble.
        if (single && field == "ensemble") return TemplateValue.Text(_event.Ensemble);
        switch (_event)
        {
            case OperationalNotificationEvent e:
                return TemplateValues.Navigate(e.Data, path, 0);
            case ExecutionStarted e:
                return field switch
                {
                    "id" when single => TemplateValue.Text(e.Id),
                    "input" => TemplateValues.Navigate(e.Input, path, 1),
                    _ => TemplateValue.Empty,
                };
            case ExecutionCompleted e:
                return field switch
                {
                    "id" when single => TemplateValue.Text(e.Id),
                    "status" when single => TemplateValue.Text(e.Status),
                    "duration" when single => TemplateValue.Number(e.Duration),
                    "output" => TemplateValues.Navigate(e.Output, path, 1),
                    _ => TemplateValue.Empty,
                };
            case ExecutionFailed e:
                return field switch
                {
                    "id" when single => TemplateValue.Text(e.Id),
                    "status" when single => TemplateValue.Text(e.Status),
                    "duration" when single => TemplateValue.Number(e.Duration),
                    "error" when single => TemplateValue.Text(e.Error.Message),
                    "error" => path.Names[1] switch
                    {
                        "message" => TemplateValue.Text(e.Error.Message),
                        "type" => TemplateValue.Text(e.Error.Type),
                        "stack" => TemplateValue.Text(e.Error.Stack),
                        _ => TemplateValue.Empty,
                    },
                    _ => TemplateValue.Empty,
                };
            case ExecutionTimedOut e:
                return field switch
                {
                    "id" when single => TemplateValue.Text(e.Id),
                    "duration" when single => TemplateValue.Number(e.Duration),
                    "timeout" when single => TemplateValue.Number(e.Timeout),
                    _ => TemplateValue.Empty,
                };
            case AgentCompleted e:
                return field switch
                {
                    "executionId" when single => TemplateValue.Text(e.ExecutionId),
                    "agent" when single => TemplateValue.Text(e.Agent),
                    "duration" when single => TemplateValue.Number(e.Duration),
                    "output" => TemplateValues.Navigate(e.Output, path, 1),
                    _ => TemplateValue.Empty,
                };
            case StateUpdated e:
                return field switch
                {
                    "executionId" when single => TemplateValue.Text(e.ExecutionId),
                    "state" => TemplateValues.Navigate(e.State, path, 1),
                    _ => TemplateValue.Empty,
                };
            default:
                return TemplateValue.Empty;
        }
    }

    /// <summary><c>${input.a.b}</c>: the execution input, when the event carries it (execution.started).</summary>
    public TemplateValue Input(TemplatePath path) => _scope is not null
        ? TemplateValues.Navigate(_scope.Input, path, 0)
        : TemplateValues.Navigate(_event is ExecutionStarted started ? started.Input : _event?.RunInput, path, 0);
}

/// <summary>
/// A binding path such as <c>output.orderId</c>, prepared once when the generated class loads: names, their
/// UTF-8 forms (for JSON lookups without transcoding) and array indexes.
/// </summary>
public sealed class TemplatePath
{
    /// <summary>Creates a path from its segments.</summary>
    public TemplatePath(params string[] names)
    {
        Names = names;
        Utf8 = Array.ConvertAll(names, System.Text.Encoding.UTF8.GetBytes);
        Indexes = Array.ConvertAll(names, n => int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : (int?)null);
    }

    /// <summary>The segments.</summary>
    public string[] Names { get; }

    /// <summary>The segments in UTF-8.</summary>
    public byte[][] Utf8 { get; }

    /// <summary>The segments that are array indexes.</summary>
    public int?[] Indexes { get; }

    /// <summary>Number of segments.</summary>
    public int Length => Names.Length;
}

/// <summary>Helpers the generated template code calls.</summary>
public static class TemplateValues
{
    /// <summary>Follows <paramref name="path"/> from index <paramref name="start"/> into a JSON value.</summary>
    public static TemplateValue Navigate(JsonElement? value, TemplatePath path, int start)
    {
        if (value is not { } element) return TemplateValue.Empty;
        for (var i = start; i < path.Length; i++)
        {
            if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(path.Utf8[i], out var child)) element = child;
            else if (element.ValueKind == JsonValueKind.Array && path.Indexes[i] is int index && index < element.GetArrayLength()) element = element[index];
            else return TemplateValue.Empty;
        }

        return TemplateValue.Json(element);
    }

    /// <summary>A JSON value as template text: strings unquoted, null empty, numbers and booleans as written, objects as JSON.</summary>
    public static string Text(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString() ?? string.Empty,
        JsonValueKind.Null or JsonValueKind.Undefined => string.Empty,
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => element.GetRawText(),
    };

    /// <summary><c>==</c> / <c>!=</c> in a template: numbers compare by value, everything else as text.</summary>
    public static bool Equal(TemplateValue left, TemplateValue right) => Equal(left.ToString(), right.ToString());

    /// <summary><c>&lt;</c>, <c>&gt;</c> and friends on template values.</summary>
    public static int Compare(TemplateValue left, TemplateValue right) => Compare(left.ToString(), right.ToString());

    /// <summary>Truthiness of a template value.</summary>
    public static bool Truthy(TemplateValue value) => Truthy(value.ToString());

    /// <summary>Text compared as numbers when both are numbers.</summary>
    public static bool Equal(string left, string right) =>
        double.TryParse(left, NumberStyles.Float, CultureInfo.InvariantCulture, out var a) && double.TryParse(right, NumberStyles.Float, CultureInfo.InvariantCulture, out var b)
            ? a.Equals(b)
            : string.Equals(left, right, StringComparison.Ordinal);

    /// <summary><c>&lt;</c>, <c>&gt;</c> and friends: numbers by value, otherwise ordinal text order.</summary>
    public static int Compare(string left, string right) =>
        double.TryParse(left, NumberStyles.Float, CultureInfo.InvariantCulture, out var a) && double.TryParse(right, NumberStyles.Float, CultureInfo.InvariantCulture, out var b)
            ? a.CompareTo(b)
            : string.CompareOrdinal(left, right);

    /// <summary>Truthiness for <c>&amp;&amp;</c>, <c>||</c> and <c>!</c>: empty, "false", "0" and "null" are false.</summary>
    public static bool Truthy(string value) => value.Length > 0 && value != "false" && value != "0" && value != "null";

    /// <summary>A boolean as a template value.</summary>
    public static TemplateValue Text(bool value) => TemplateValue.Text(value ? "true" : "false");
}
