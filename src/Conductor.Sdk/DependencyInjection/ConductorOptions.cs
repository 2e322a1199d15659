using Microsoft.Extensions.Options;

namespace Conductor.Sdk;

/// <summary>Runtime settings of the delivery pipeline. Validated when the host starts.</summary>
public sealed class ConductorOptions
{
    /// <summary>
    /// Networks (CIDR, e.g. <c>127.0.0.1/32</c>) webhooks may reach although they are loopback, private,
    /// link-local, CGNAT, unique-local or metadata addresses. Empty by default: such destinations are refused.
    /// </summary>
    public IList<string> AllowedNetworks { get; } = new List<string>();

    /// <summary>Attempts running at once across all endpoints.</summary>
    public int MaxConcurrentDeliveries { get; set; } = 64;

    /// <summary>Attempts running at once to one endpoint, so that a slow receiver holds only this many slots.</summary>
    public int MaxConcurrentPerEndpoint { get; set; } = 8;

    /// <summary>Leased deliveries that may wait in one endpoint's queue while its attempts run.</summary>
    public int MaxQueuedPerEndpoint { get; set; } = 256;

    /// <summary>Leased deliveries that may wait in all endpoint queues together.</summary>
    public int MaxQueuedTotal { get; set; } = 1024;

    /// <summary>Share of failed attempts (in <see cref="CircuitBreakerSamplingDuration"/>) that opens an endpoint's breaker.</summary>
    public double CircuitBreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Attempts needed in the sampling window before the breaker may open.</summary>
    public int CircuitBreakerMinimumThroughput { get; set; } = 10;

    /// <summary>The window in which failures are counted.</summary>
    public TimeSpan CircuitBreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open breaker keeps deliveries to its endpoint waiting.</summary>
    public TimeSpan CircuitBreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a leased delivery stays hidden from other workers. It must exceed the longest attempt timeout of the
    /// registered notifications; it is also how long deliveries held by a crashed process wait before another takes them.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Whether the trace of the code that calls <c>Notify</c> continues into the delivery attempts: the W3C
    /// <c>traceparent</c> is stored with each delivery, the attempt's activity is its child, and webhooks carry a
    /// <c>traceparent</c> header (and <c>tracestate</c>) so that the receiver's spans join the same trace. On by
    /// default; turn it off to send no trace headers to receivers.
    /// </summary>
    public bool PropagateTraceContext { get; set; } = true;

    /// <summary>Deliveries leased per round trip to the store.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// How long finished deliveries are kept (<c>Conductor:Retention</c>): delivered 7 days, dead-lettered 30 days by
    /// default; <c>Infinite</c> keeps them forever.
    /// </summary>
    public ConductorRetentionOptions Retention { get; } = new();

    /// <summary>
    /// The endpoint lifecycle (<c>Conductor:Endpoints</c>): an endpoint whose every attempt failed for 5 days is disabled;
    /// states are shared through the store and read every 15 s; the health check degrades when an endpoint's oldest due
    /// delivery waited 15 minutes.
    /// </summary>
    public Delivery.ConductorEndpointOptions Endpoints { get; } = new();

    /// <summary>
    /// Whether the store's schema is brought to this version's at start-up (default true). When false, start-up fails
    /// while the schema is behind, naming the command that migrates it (<c>conductor store migrate</c>): for teams that
    /// migrate as a deploy step.
    /// </summary>
    public bool AutoMigrate { get; set; } = true;

    /// <summary>
    /// The SQLite store's file (<c>Conductor:StorePath</c>; relative to the content root), for a volume or a backup
    /// location. When unset the file is chosen by <see cref="Microsoft.Extensions.DependencyInjection.SqliteConductorBuilderExtensions.DefaultPath"/>.
    /// <c>UseSqlite(path)</c> takes precedence.
    /// </summary>
    public string? StorePath { get; set; }
}

/// <summary>Checks <see cref="ConductorOptions"/> with messages that say what to change.</summary>
internal sealed class ConductorOptionsValidator : IValidateOptions<ConductorOptions>
{
    public ValidateOptionsResult Validate(string? name, ConductorOptions options)
    {
        var failures = new List<string>();
        if (options.MaxConcurrentDeliveries < 1) failures.Add($"Conductor:MaxConcurrentDeliveries must be at least 1 (it is {options.MaxConcurrentDeliveries}).");
        if (options.MaxConcurrentPerEndpoint < 1) failures.Add($"Conductor:MaxConcurrentPerEndpoint must be at least 1 (it is {options.MaxConcurrentPerEndpoint}).");
        if (options.MaxQueuedPerEndpoint < 0) failures.Add($"Conductor:MaxQueuedPerEndpoint must not be negative (it is {options.MaxQueuedPerEndpoint}).");
        if (options.MaxQueuedTotal < options.MaxQueuedPerEndpoint) failures.Add($"Conductor:MaxQueuedTotal ({options.MaxQueuedTotal}) must be at least MaxQueuedPerEndpoint ({options.MaxQueuedPerEndpoint}).");
        if (options.BatchSize < 1) failures.Add($"Conductor:BatchSize must be at least 1 (it is {options.BatchSize}).");
        if (options.CircuitBreakerFailureRatio is <= 0 or > 1) failures.Add($"Conductor:CircuitBreakerFailureRatio must be in (0, 1] (it is {options.CircuitBreakerFailureRatio}).");
        if (options.CircuitBreakerMinimumThroughput < 2) failures.Add($"Conductor:CircuitBreakerMinimumThroughput must be at least 2 (it is {options.CircuitBreakerMinimumThroughput}).");
        if (options.CircuitBreakerSamplingDuration < TimeSpan.FromMilliseconds(500)) failures.Add("Conductor:CircuitBreakerSamplingDuration must be at least 500 ms.");
        if (options.CircuitBreakerBreakDuration < TimeSpan.FromMilliseconds(500)) failures.Add("Conductor:CircuitBreakerBreakDuration must be at least 500 ms.");
        if (options.LeaseDuration < TimeSpan.FromSeconds(1)) failures.Add($"Conductor:LeaseDuration must be at least 1 s (it is {options.LeaseDuration}); it must also exceed the longest attempt timeout, which is checked at start.");
        failures.AddRange(options.Retention.Validate());
        failures.AddRange(options.Endpoints.Validate());
        foreach (var network in options.AllowedNetworks)
        {
            if (!System.Net.IPNetwork.TryParse(network?.Trim(), out _))
            {
                failures.Add($"Conductor:AllowedNetworks entry '{network}' is not CIDR notation; write an address and prefix length, such as 127.0.0.1/32.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
