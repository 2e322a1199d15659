using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Sdk;

/// <summary>
/// The application's <c>Conductor</c> configuration section. Provider packages bind their options from a
/// sub-section (<c>Conductor:Email:Smtp</c>) before the code's own <c>configure</c> runs.
/// </summary>
public static class ConductorConfiguration
{
    /// <summary>
    /// <c>Conductor</c>, or <c>Conductor:{path}</c>; null when the application registered no
    /// <see cref="IConfiguration"/> or the section is absent.
    /// </summary>
    public static IConfigurationSection? Section(IServiceProvider services, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var configuration = services.GetService<IConfiguration>();
        if (configuration is null) return null;
        var section = configuration.GetSection(path is null ? ConductorServiceCollectionExtensions.ConfigurationSection : ConductorServiceCollectionExtensions.ConfigurationSection + ":" + path);
        return section.Exists() ? section : null;
    }
}
