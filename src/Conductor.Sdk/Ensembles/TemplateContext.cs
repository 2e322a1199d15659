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

    /// <summary>Creates a context for one event (null for values fixed at start-up).</summary>
    public TemplateContext(string ensemble, ConductorEvent? @event, EnsembleEnvironment environment)
    {
        Ensemble = ensemble;
        _event = @event;
        _environment = environment;
    }

    /// <summary><c>${ensemble.name}</c></summary>
    public string Ensemble { get; }

    /// <summary><c>${event}</c></summary>
    public string Event => _event?.Name ?? string.Empty;

    /// <summary><c>${timestamp}</c>: the event time, ISO 8601 UTC with milliseconds.</summary>
    public string Timestamp => _event is null ? string.Empty : EventPayload.FormatTimestamp(_event.Timestamp);

    /// <summary><c>${env.NAME}</c>: the configuration value read at start-up.</summary>
    public string Env(string name) => _environment.Get(name);

    /// <summary><c>${data.a.b}</c>: a field of the event's <c>data</c> object, as text.</summary>
    public string Data(string[] path)
    {
        if (_event is null || path.Length == 0) return string.Empty;
        return _event switch
        {
            ExecutionStarted e => Field(path, ("ensemble", e.Ensemble), ("id", e.Id)) ?? Json(path, "input", e.Input),
            ExecutionCompleted e => Field(path, ("ensemble", e.Ensemble), ("id", e.Id), ("status", e.Status), ("duration", Number(e.Duration))) ?? Json(path, "output", e.Output),
            ExecutionFailed e => Field(path, ("ensemble", e.Ensemble), ("id", e.Id), ("status", e.Status), ("duration", Number(e.Duration))) ?? Error(path, e.Error),
            ExecutionTimedOut e => Field(path, ("ensemble", e.Ensemble), ("id", e.Id), ("duration", Number(e.Duration)), ("timeout", Number(e.Timeout))) ?? string.Empty,
            AgentCompleted e => Field(path, ("ensemble", e.Ensemble), ("executionId", e.ExecutionId), ("agent", e.Agent), ("duration", Number(e.Duration))) ?? Json(path, "output", e.Output),
            StateUpdated e => Field(path, ("ensemble", e.Ensemble), ("executionId", e.ExecutionId)) ?? Json(path, "state", e.State),
            _ => string.Empty,
        };
    }

    /// <summary><c>${input.a.b}</c>: the execution input, when the event carries it (execution.started).</summary>
    public string Input(string[] path) => _event is ExecutionStarted started ? TemplateValues.Navigate(started.Input, path, 0) : string.Empty;

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string? Field(string[] path, params (string Name, string Value)[] fields)
    {
        if (path.Length != 1) return null;
        foreach (var (name, value) in fields)
        {
            if (name == path[0]) return value;
        }

        return null;
    }

    private static string Json(string[] path, string root, JsonElement? value) =>
        path[0] == root ? TemplateValues.Navigate(value, path, 1) : string.Empty;

    private static string Error(string[] path, ErrorInfo error)
    {
        if (path[0] != "error") return string.Empty;
        if (path.Length == 1) return error.Message;
        return path[1] switch
        {
            "message" => error.Message,
            "type" => error.Type,
            "stack" => error.Stack ?? string.Empty,
            _ => string.Empty,
        };
    }
}

/// <summary>Helpers the generated template code calls.</summary>
public static class TemplateValues
{
    /// <summary>Follows <paramref name="path"/> from index <paramref name="start"/> into a JSON value and renders it as text.</summary>
    public static string Navigate(JsonElement? value, string[] path, int start)
    {
        if (value is not { } element) return string.Empty;
        for (var i = start; i < path.Length; i++)
        {
            if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(path[i], out var child)) element = child;
            else if (element.ValueKind == JsonValueKind.Array && int.TryParse(path[i], NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < element.GetArrayLength()) element = element[index];
            else return string.Empty;
        }

        return Text(element);
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

    /// <summary>A boolean as template text.</summary>
    public static string Text(bool value) => value ? "true" : "false";
}
