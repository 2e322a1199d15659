using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of the PostgreSQL store.</summary>
public static class PostgreSqlConductorBuilderExtensions
{
    /// <summary>Stores deliveries in PostgreSQL, so that several processes share one queue.</summary>
    public static ConductorBuilder UsePostgreSql(this ConductorBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        builder.Services.RemoveAll<IDeliveryStore>();
        builder.Services.AddSingleton<IDeliveryStore>(sp => new PostgreSqlDeliveryStore(connectionString,
            sp.GetService<Microsoft.Extensions.Options.IOptions<Conductor.Sdk.ConductorOptions>>()?.Value.AutoMigrate ?? true));
        // With AutoMigrate off, a schema that is behind fails start-up (not the first Notify).
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, PostgreSqlSchemaCheck>());
        // Deliveries stored by other processes (or committed by an application's transaction) wake this worker at once.
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, PostgreSqlWakeUp>());
        return builder;
    }
}
