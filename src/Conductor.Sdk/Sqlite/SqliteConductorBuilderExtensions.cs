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

    /// <summary>The store's file name.</summary>
    internal const string FileName = "conductor-deliveries.db";

    /// <summary>
    /// Where the SQLite store lives when the application does not say (<c>UseSqlite(path)</c>, <c>Conductor:StorePath</c>):
    /// <list type="number">
    /// <item><c>App_Data/conductor-deliveries.db</c> under the content root when that file exists (an application that
    /// already has a store keeps it);</item>
    /// <item>otherwise, when the host reloads configuration files from a directory that holds the content root's
    /// <c>App_Data</c> (<c>reloadOnChange</c>, on by default in <c>WebApplication</c> and <c>Host.CreateApplicationBuilder</c>),
    /// <c>Conductor/{ApplicationName}/conductor-deliveries.db</c> under the user's local application data directory
    /// (<c>~/.local/share</c> or <c>$XDG_DATA_HOME</c> on Linux and macOS, <c>%LOCALAPPDATA%</c> on Windows): that watcher
    /// wakes on every write under the directory it watches, which cost 20–35 % of the store's throughput;</item>
    /// <item>otherwise <c>App_Data/conductor-deliveries.db</c> under the content root (or the application's base
    /// directory when there is no host).</item>
    /// </list>
    /// </summary>
    public static string DefaultPath(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var environment = services.GetService<Microsoft.Extensions.Hosting.IHostEnvironment>();
        var root = string.IsNullOrEmpty(environment?.ContentRootPath) ? AppContext.BaseDirectory : environment.ContentRootPath;
        var configured = services.GetService<Microsoft.Extensions.Options.IOptions<Conductor.Sdk.ConductorOptions>>()?.Value.StorePath;
        if (!string.IsNullOrWhiteSpace(configured)) return System.IO.Path.GetFullPath(configured, root);
        var appData = System.IO.Path.Combine(root, "App_Data", FileName);
        if (System.IO.File.Exists(appData)) return appData;
        var local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(local) || !WatchedForReload(services.GetService<Microsoft.Extensions.Configuration.IConfiguration>(), appData)) return appData;
        var name = environment?.ApplicationName is { Length: > 0 } application ? application : "app";
        foreach (var invalid in System.IO.Path.GetInvalidFileNameChars()) name = name.Replace(invalid, '_');
        return System.IO.Path.Combine(local, "Conductor", name, FileName);
    }

    /// <summary>True when a configuration file is reloaded on change from a directory that contains <paramref name="path"/>.</summary>
    internal static bool WatchedForReload(Microsoft.Extensions.Configuration.IConfiguration? configuration, string path)
    {
        if (configuration is not Microsoft.Extensions.Configuration.IConfigurationRoot rootConfiguration) return false;
        foreach (var provider in rootConfiguration.Providers)
        {
            if (provider is Microsoft.Extensions.Configuration.FileConfigurationProvider { Source: { ReloadOnChange: true, FileProvider: Microsoft.Extensions.FileProviders.PhysicalFileProvider files } } &&
                path.StartsWith(System.IO.Path.TrimEndingDirectorySeparator(files.Root) + System.IO.Path.DirectorySeparatorChar, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
