using System.Text.Json;
using Conductor.Sdk.Ensembles;

namespace Conductor.Sdk.Runner;

/// <summary>
/// An agent of a flow (<c>- agent: check-health</c>), implemented in C#. Register implementations with the generated
/// <c>services.AddConductor().Add{Ensemble}(agents => agents.{Agent}&lt;TAgent&gt;())</c>; the build reports CND0015 when
/// an agent of the flow is left out. One instance is resolved per run from a fresh DI scope.
/// </summary>
public interface IAgent
{
    /// <summary>
    /// Runs the agent. The returned JSON is the step's output (<c>${check-health.output.status}</c>, the
    /// <c>agent.completed</c> event's <c>data.output</c>); changes to <see cref="AgentContext.State"/> are sent as
    /// <c>state.updated</c>. The token is cancelled when the ensemble's <c>timeout:</c> passes. An exception fails
    /// the run with <c>execution.failed</c>, carrying its message and type.
    /// </summary>
    ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken);
}

/// <summary>What an agent sees of the run: its input, earlier outputs and the shared state.</summary>
public sealed class AgentContext
{
    private readonly ExecutionScope _scope;

    internal AgentContext(ExecutionScope scope, string step, string agent, JsonElement? stepInput)
    {
        _scope = scope;
        Step = step;
        Agent = agent;
        StepInput = stepInput;
    }

    /// <summary>The ensemble's name.</summary>
    public string Ensemble => _scope.Ensemble;

    /// <summary>The run's id (<c>data.id</c> / <c>data.executionId</c> of its events).</summary>
    public string ExecutionId => _scope.ExecutionId;

    /// <summary>The step's name (<c>name:</c>, else the agent's name).</summary>
    public string Step { get; }

    /// <summary>The agent's name as written in the YAML.</summary>
    public string Agent { get; }

    /// <summary>The run's input as JSON, as passed to <c>RunAsync</c> (typed agents receive the declared <c>Input</c> record instead).</summary>
    public JsonElement? Input => _scope.Input;

    /// <summary>The run's typed input (the generated <c>Input</c> record) when the ensemble declares <c>input:</c>, else null.</summary>
    public object? TypedInput => _scope.TypedInput;

    /// <summary>The step's <c>input:</c> mapping rendered for this run, or null when the step has none.</summary>
    public JsonElement? StepInput { get; }

    /// <summary>The output of the step before this one in the flow (<c>${previous.output}</c>; null when it was skipped).</summary>
    public JsonElement? Previous => _scope.Previous;

    /// <summary>The output of an earlier step, or null when it was skipped or has not run.</summary>
    public JsonElement? OutputOf(string step) => _scope.OutputOf(step);

    /// <summary>State shared by the run's agents; a change is sent as <c>state.updated</c> after the agent returns.</summary>
    public AgentState State => _scope.State;
}

/// <summary>Shared state of one run: named JSON values. Every change increments <see cref="Version"/>.</summary>
public sealed class AgentState
{
    private readonly Dictionary<string, JsonElement> _values = new(StringComparer.Ordinal);

    /// <summary>Counts the changes made so far.</summary>
    public int Version { get; private set; }

    /// <summary>The value of a key, or null.</summary>
    public JsonElement? Get(string key) => _values.TryGetValue(key, out var value) ? value : null;

    /// <summary>Sets a key to a string, number, boolean, JsonElement, dictionary or list (written as JSON).</summary>
    /// <exception cref="NotSupportedException">The value has a type that cannot be written as JSON.</exception>
    public void Set(string key, object? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        JsonElement element;
        try
        {
            element = JsonValues.Value(value);
        }
        catch (NotSupportedException ex)
        {
            throw new NotSupportedException($"Shared state key '{key}': {ex.Message}", ex);
        }

        if (_values.TryGetValue(key, out var existing) && JsonElement.DeepEquals(existing, element)) return;
        _values[key] = element;
        Version++;
    }

    /// <summary>Removes a key.</summary>
    public void Remove(string key)
    {
        if (_values.Remove(key)) Version++;
    }

    /// <summary>The state as a JSON object (<c>data.state</c> of <c>state.updated</c>), keys in the order set.</summary>
    public JsonElement ToJson() => JsonValues.Object(_values.Select(p => (p.Key, (object?)p.Value)).ToArray());
}

/// <summary>Everything compiled templates read while a flow runs: input, step outputs, which steps ran.</summary>
public sealed class ExecutionScope
{
    private readonly Dictionary<string, JsonElement?> _outputs = new(StringComparer.Ordinal);
    private readonly List<string> _executed = new();

    /// <summary>Creates the scope of one run.</summary>
    public ExecutionScope(string ensemble, string executionId, JsonElement? input)
    {
        Ensemble = ensemble;
        ExecutionId = executionId;
        Input = input;
    }

    /// <summary>The ensemble's name.</summary>
    public string Ensemble { get; }

    /// <summary>The run's id.</summary>
    public string ExecutionId { get; }

    /// <summary>The run's input.</summary>
    public JsonElement? Input { get; }

    /// <summary>The run's input as the generated record, when the ensemble declares <c>input:</c>.</summary>
    public object? TypedInput { get; init; }

    /// <summary>The output of the step before the current one in the flow (null when that step was skipped).</summary>
    public JsonElement? Previous { get; private set; }

    /// <summary>The shared state.</summary>
    public AgentState State { get; } = new();

    /// <summary>The steps that ran, in order.</summary>
    public IReadOnlyList<string> ExecutedSteps => _executed;

    /// <summary>Records a step that ran and its output.</summary>
    public void Completed(string step, JsonElement? output)
    {
        _outputs[step] = output;
        _executed.Add(step);
        Previous = output;
    }

    /// <summary>Records a step skipped by its condition: it did not run, and the next step's <c>previous</c> is empty.</summary>
    public void Skipped(string step) => Previous = null;

    /// <summary>Whether a step ran (<c>${step.executed}</c>): false when its condition was false or it has not run.</summary>
    public bool Executed(string step) => _outputs.ContainsKey(step);

    /// <summary>A step's output, or null.</summary>
    public JsonElement? OutputOf(string step) => _outputs.GetValueOrDefault(step);
}
