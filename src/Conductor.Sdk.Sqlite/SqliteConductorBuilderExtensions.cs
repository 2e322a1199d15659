using Conductor.Sdk.Delivery;
using Conductor.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Conductor.Sdk.Sqlite;

/// <summary>Registration of the SQLite store.</summary>
public static class SqliteConductorBuilderExtensions
{
    /// <summary>
    /// Stores deliveries in a SQLite file, so that pending and retrying deliveries survive a restart. The default file
    /// is <c>App_Data/conductor-deliveries.db</c> under the application's base directory.
    /// </summary>
    public static ConductorBuilder UseSqlite(this ConductorBuilder builder, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var file = path ?? System.IO.Path.Combine(AppContext.BaseDirectory, "App_Data", "conductor-deliveries.db");
        builder.Services.RemoveAll<IDeliveryStore>();
        builder.Services.AddSingleton<IDeliveryStore>(_ => new SqliteDeliveryStore(file));
        return builder;
    }
}
