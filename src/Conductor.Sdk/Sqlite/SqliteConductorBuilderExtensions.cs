using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of the SQLite store.</summary>
public static class SqliteConductorBuilderExtensions
{
    /// <summary>
    /// Stores deliveries in a SQLite file, so that pending and retrying deliveries survive a restart. This is the
    /// default; call it to choose the file. Without a path the file is <see cref="DefaultPath"/>.
    /// </summary>
    public static ConductorBuilder UseSqlite(this ConductorBuilder builder, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.RemoveAll<IDeliveryStore>();
        builder.Services.AddSingleton<IDeliveryStore>(sp => new SqliteDeliveryStore(path ?? DefaultPath(sp), AutoMigrate(sp)));
        return builder;
    }

    /// <summary>
    /// Keeps deliveries in process memory: for tests and demos only, since pending deliveries are lost on restart.
    /// </summary>
    public static ConductorBuilder UseInMemoryStore(this ConductorBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.RemoveAll<IDeliveryStore>();
        builder.Services.AddSingleton<IDeliveryStore, InMemoryDeliveryStore>();
        return builder;
    }

    /// <summary>Whether the store migrates its schema when opened (<see cref="Conductor.Sdk.ConductorOptions.AutoMigrate"/>).</summary>
    internal static bool AutoMigrate(IServiceProvider services) =>
        services.GetService<Microsoft.Extensions.Options.IOptions<Conductor.Sdk.ConductorOptions>>()?.Value.AutoMigrate ?? true;

    /// <summary>
    /// <c>App_Data/conductor-deliveries.db</c> under the host's content root (the application's data directory), or
    /// under the application's base directory when there is no host.
    /// </summary>
    public static string DefaultPath(IServiceProvider services)
    {
        var root = services.GetService<Microsoft.Extensions.Hosting.IHostEnvironment>()?.ContentRootPath;
        return System.IO.Path.Combine(string.IsNullOrEmpty(root) ? AppContext.BaseDirectory : root, "App_Data", "conductor-deliveries.db");
    }
}
