using System.Text.Json;
using System.Text.Json.Serialization;

namespace Conductor.Sdk.Events;

/// <summary>The names of the six lifecycle events (DESIGN.md section 4).</summary>
public static class EventNames
{
    /// <summary>Execution began.</summary>
    public const string ExecutionStarted = "execution.started";
    /// <summary>Execution completed successfully.</summary>
    public const string ExecutionCompleted = "execution.completed";
    /// <summary>Execution failed with an error.</summary>
    public const string ExecutionFailed = "execution.failed";
    /// <summary>Execution exceeded its timeout.</summary>
    public const string ExecutionTimeout = "execution.timeout";
    /// <summary>One agent completed.</summary>
    public const string AgentCompleted = "agent.completed";
    /// <summary>Ensemble state changed.</summary>
    public const string StateUpdated = "state.updated";
}

/// <summary>
/// An event to deliver: its name, when it happened, and its <c>data</c> object. The subtypes fix the
/// shape of <c>data</c> per event; durations are whole milliseconds.
/// </summary>
[JsonPolymorphic]
[JsonDerivedType(typeof(ExecutionStarted))]
[JsonDerivedType(typeof(ExecutionCompleted))]
[JsonDerivedType(typeof(ExecutionFailed))]
[JsonDerivedType(typeof(ExecutionTimedOut))]
[JsonDerivedType(typeof(AgentCompleted))]
[JsonDerivedType(typeof(StateUpdated))]
public abstract record ConductorEvent(DateTimeOffset Timestamp)
{
    /// <summary>The event name, e.g. <c>execution.completed</c>.</summary>
    [JsonIgnore]
    public abstract string Name { get; }

    /// <summary>The ensemble the event belongs to.</summary>
    [JsonIgnore]
    public abstract string Ensemble { get; }

    /// <summary>
    /// The input of the run the event belongs to (set by the ensemble runner). It is not part of the webhook body; it is
    /// stored with email, SMS and push deliveries so that their <c>${input.…}</c> bindings render for every event of the
    /// run, not only <c>execution.started</c>.
    /// </summary>
    [JsonIgnore]
    public JsonElement? RunInput { get; init; }
}

/// <summary><c>execution.started</c>: data is <c>{ensemble, id, input}</c>.</summary>
public sealed record ExecutionStarted(DateTimeOffset Timestamp, string Ensemble, string Id, JsonElement? Input) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventNames.ExecutionStarted;

    /// <inheritdoc />
    public override string Ensemble { get; } = Ensemble;
}

/// <summary><c>execution.completed</c>: data is <c>{ensemble, id, status: "completed", output, duration}</c>.</summary>
public sealed record ExecutionCompleted(DateTimeOffset Timestamp, string Ensemble, string Id, JsonElement? Output, long Duration) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventNames.ExecutionCompleted;

    /// <inheritdoc />
    public override string Ensemble { get; } = Ensemble;

    /// <summary>Always <c>completed</c>.</summary>
    public string Status => "completed";
}

/// <summary>The <c>error</c> object of <c>execution.failed</c>.</summary>
public sealed record ErrorInfo(string Message, string Type, string? Stack = null)
{
    /// <summary>Describes an exception: its message and type name (the stack only when asked for).</summary>
    public static ErrorInfo From(Exception exception, bool includeStack = false) =>
        new(exception.Message, exception.GetType().FullName ?? exception.GetType().Name, includeStack ? exception.StackTrace : null);
}

/// <summary><c>execution.failed</c>: data is <c>{ensemble, id, status: "failed", error, duration}</c>.</summary>
public sealed record ExecutionFailed(DateTimeOffset Timestamp, string Ensemble, string Id, ErrorInfo Error, long Duration) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventNames.ExecutionFailed;

    /// <inheritdoc />
    public override string Ensemble { get; } = Ensemble;

    /// <summary>Always <c>failed</c>.</summary>
    public string Status => "failed";
}

/// <summary><c>execution.timeout</c>: data is <c>{ensemble, id, duration, timeout}</c>.</summary>
public sealed record ExecutionTimedOut(DateTimeOffset Timestamp, string Ensemble, string Id, long Duration, long Timeout) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventNames.ExecutionTimeout;

    /// <inheritdoc />
    public override string Ensemble { get; } = Ensemble;
}

/// <summary><c>agent.completed</c>: data is <c>{ensemble, executionId, agent, output, duration}</c>.</summary>
public sealed record AgentCompleted(DateTimeOffset Timestamp, string Ensemble, string ExecutionId, string Agent, JsonElement? Output, long Duration) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventNames.AgentCompleted;

    /// <inheritdoc />
    public override string Ensemble { get; } = Ensemble;
}

/// <summary><c>state.updated</c>: data is <c>{ensemble, executionId, state}</c>.</summary>
public sealed record StateUpdated(DateTimeOffset Timestamp, string Ensemble, string ExecutionId, JsonElement? State) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventNames.StateUpdated;

    /// <inheritdoc />
    public override string Ensemble { get; } = Ensemble;
}
