using Conductor.Sdk.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of Conductor's health checks.</summary>
public static class ConductorHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds four checks: <c>conductor-store</c> (the delivery store answers, and is under <see cref="ConductorHealthCheckOptions.StoreSizeThreshold"/>, else degraded; tags <c>conductor</c>, <c>ready</c>),
    /// <c>conductor-worker</c> (the hosted delivery worker runs and its loop is not stuck; tags <c>conductor</c>,
    /// <c>live</c>) and <c>conductor-dead-letters</c> (the dead-letter backlog is under
    /// <see cref="ConductorHealthCheckOptions.DeadLetterThreshold"/>; tag <c>conductor</c>) and <c>conductor-endpoints</c> (no
    /// endpoint's oldest due delivery is older than <c>Conductor:Endpoints:BacklogAgeThreshold</c>, and no disabled endpoint
    /// holds due deliveries; tag <c>conductor</c>). Options are bound from
    /// <c>Conductor:HealthChecks</c>, then <paramref name="configure"/> runs.
    /// </summary>
    public static IHealthChecksBuilder AddConductor(this IHealthChecksBuilder builder, Action<ConductorHealthCheckOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<ConductorHealthCheckOptions>()
            .Configure<IServiceProvider>((o, sp) => { if (Conductor.Sdk.ConductorConfiguration.Section(sp, "HealthChecks") is { } section) section.Bind(o); })
            .Validate(o => o.DeadLetterThreshold >= 0, "Conductor:HealthChecks:DeadLetterThreshold must not be negative.")
            .Validate(o => o.WorkerStaleAfter > TimeSpan.Zero && o.StoreTimeout > TimeSpan.Zero, "Conductor:HealthChecks:WorkerStaleAfter and StoreTimeout must be positive.")
            .Validate(o => o.StoreSizeThreshold is null or > 0, "Conductor:HealthChecks:StoreSizeThreshold must be a positive number of bytes (or absent to turn the size check off).")
            .ValidateOnStart();
        if (configure is not null) options.Configure(configure);
        builder.Services.AddSingleton<ConductorStoreHealthCheck>();
        builder.Services.AddSingleton<ConductorWorkerHealthCheck>();
        builder.Services.AddSingleton<ConductorDeadLetterHealthCheck>();
        builder.Services.AddSingleton<ConductorEndpointsHealthCheck>();
        builder.Add(new HealthCheckRegistration("conductor-store", sp => sp.GetRequiredService<ConductorStoreHealthCheck>(), HealthStatus.Unhealthy, ["conductor", "ready"]));
        builder.Add(new HealthCheckRegistration("conductor-worker", sp => sp.GetRequiredService<ConductorWorkerHealthCheck>(), HealthStatus.Unhealthy, ["conductor", "live"]));
        builder.Add(new HealthCheckRegistration("conductor-dead-letters", sp => sp.GetRequiredService<ConductorDeadLetterHealthCheck>(), HealthStatus.Degraded, ["conductor"]));
        builder.Add(new HealthCheckRegistration("conductor-endpoints", sp => sp.GetRequiredService<ConductorEndpointsHealthCheck>(), HealthStatus.Degraded, ["conductor"]));
        return builder;
    }
}
