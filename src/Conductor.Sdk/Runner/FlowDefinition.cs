using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Notifications;

namespace Conductor.Sdk.Runner;

/// <summary>A compiled <c>condition:</c>: true when the step should run.</summary>
public delegate bool FlowCondition(in TemplateContext context);

/// <summary>Builds a run's typed output from the compiled <c>outputs:</c> bindings.</summary>
public delegate TOutput OutputFactory<out TOutput>(in TemplateContext context);

/// <summary>An ensemble's flow as the generator compiled it: its steps in order and its timeout.</summary>
/// <param name="Ensemble">The ensemble's name.</param>
/// <param name="Timeout">The ensemble's <c>timeout:</c>; the run is cancelled and <c>execution.timeout</c> sent when it passes.</param>
/// <param name="Steps">The steps, in order.</param>
/// <param name="RegistrationMethod">The generated method that registers the agents (for error messages), e.g. <c>AddServerHealthCheck</c>.</param>
public sealed record FlowDefinition(string Ensemble, TimeSpan? Timeout, IReadOnlyList<FlowStepDefinition> Steps, string RegistrationMethod);

/// <summary>One step of a flow.</summary>
/// <param name="Name">The step's name (<c>name:</c>, else the agent's name).</param>
/// <param name="Condition">The compiled <c>condition:</c>, or null to always run.</param>
public abstract record FlowStepDefinition(string Name, FlowCondition? Condition);

/// <summary>A step that runs an agent.</summary>
/// <param name="Name">The step's name.</param>
/// <param name="Agent">The agent's name as written in the YAML.</param>
/// <param name="Condition">The compiled condition, or null.</param>
/// <param name="Input">The step's compiled <c>input:</c> mapping (empty when it has none).</param>
/// <param name="RegistrationCall">How the agent is registered, e.g. <c>agents.CheckHealth&lt;TAgent&gt;()</c> (for error messages).</param>
public sealed record AgentStepDefinition(string Name, string Agent, FlowCondition? Condition, IReadOnlyDictionary<string, CompiledTemplate> Input, string RegistrationCall)
    : FlowStepDefinition(Name, Condition)
{
    /// <summary>The DI key the agent implementation is registered under: <c>{ensemble}/{agent}</c>.</summary>
    public static string ServiceKey(string ensemble, string agent) => ensemble + "/" + agent;
}

/// <summary>A step that sends a message (<c>operation: sms</c> or <c>operation: email</c>) through the delivery queue.</summary>
/// <param name="Name">The step's name.</param>
/// <param name="Condition">The compiled condition, or null.</param>
/// <param name="Notification">The delivery definition its messages are stored under.</param>
public sealed record OperationStepDefinition(string Name, FlowCondition? Condition, OperationNotificationDefinition Notification)
    : FlowStepDefinition(Name, Condition);

/// <summary>
/// The delivery definition of an operation step. Its <c>config:</c> values are rendered when the step runs and stored
/// with the delivery, except those that only read configuration (<c>${env.NAME}</c>, for example credentials): these are
/// resolved when the message is sent, so that secrets never reach the store.
/// </summary>
public sealed record OperationNotificationDefinition : NotificationDefinition
{
    /// <summary>Creates the definition of step <paramref name="step"/> (zero-based <paramref name="stepIndex"/>).</summary>
    /// <param name="ensemble">The ensemble's name.</param>
    /// <param name="stepIndex">The step's zero-based position in the flow.</param>
    /// <param name="step">The step's name.</param>
    /// <param name="operation"><c>sms</c> or <c>email</c>.</param>
    /// <param name="config">The compiled <c>config:</c> values by key.</param>
    /// <param name="retries">Retries after the first attempt (0..5).</param>
    /// <param name="resolvedAtSend">
    /// The config keys whose values only read configuration (credentials, for example), as the generator determined from
    /// the parsed templates: they are resolved when sending and never stored. Null: decided from each template's source.
    /// </param>
    public OperationNotificationDefinition(string ensemble, int stepIndex, string step, string operation, IReadOnlyDictionary<string, CompiledTemplate> config, int retries = 3, IReadOnlyCollection<string>? resolvedAtSend = null)
        : base(ensemble, stepIndex, new[] { EventName(step) }, $"{ensemble}#step:{step}", $"ensemble '{ensemble}', {operation} step '{step}'")
    {
        if (operation is not ("sms" or "email"))
        {
            throw new ArgumentException($"ensemble '{ensemble}', flow step '{step}': unknown operation '{operation}'; use sms or email.", nameof(operation));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(retries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(retries, 5);
        Step = step;
        Operation = operation;
        Config = config;
        OperationRetries = retries;
        ResolvedAtSend = new HashSet<string>(resolvedAtSend ?? config.Where(c => IsConfigurationOnly(c.Value)).Select(c => c.Key), StringComparer.Ordinal);
    }

    /// <summary>The config keys resolved when sending (from configuration) and never stored.</summary>
    public IReadOnlySet<string> ResolvedAtSend { get; }

    /// <summary>The name stored as the delivery's event: <c>operation:{step}</c>.</summary>
    public static string EventName(string step) => "operation:" + step;

    /// <summary>The step's name.</summary>
    public string Step { get; }

    /// <summary><c>sms</c> or <c>email</c>.</summary>
    public string Operation { get; }

    /// <summary>The compiled <c>config:</c> values.</summary>
    public IReadOnlyDictionary<string, CompiledTemplate> Config { get; }

    private int OperationRetries { get; }

    /// <inheritdoc />
    public override string Channel => Operation;

    /// <inheritdoc />
    public override int Retries => OperationRetries;

    /// <summary>
    /// Whether a config value only reads configuration: it has bindings and each is <c>${env.NAME}</c>. Used for
    /// hand-built definitions; generated ones pass the keys decided from the parsed YAML.
    /// </summary>
    public static bool IsConfigurationOnly(CompiledTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template.Source.Contains("${", StringComparison.Ordinal) && template.KnownAtStart;
    }

    /// <summary>The step's <c>provider:</c> (rendered from configuration), or null when the config names none.</summary>
    public string? ConfiguredProvider(Ensembles.EnsembleEnvironment environment) =>
        Config.TryGetValue("provider", out var provider) ? provider.Render(new Ensembles.TemplateContext(Ensemble, null, environment)) : null;
}
