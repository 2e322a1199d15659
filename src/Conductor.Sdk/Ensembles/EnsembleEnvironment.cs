using Microsoft.Extensions.Configuration;

namespace Conductor.Sdk.Ensembles;

/// <summary>One <c>${env.NAME}</c> an ensemble needs, and what needs it (for the start-up message).</summary>
/// <param name="Variable">The configuration key (an environment variable name).</param>
/// <param name="Ensemble">The ensemble's name.</param>
/// <param name="UsedBy">Which notification and field use it, e.g. "webhook notification #1, field 'secret'".</param>
public sealed record EnvironmentRequirement(string Variable, string Ensemble, string UsedBy);

/// <summary>
/// The configuration values of the <c>${env.NAME}</c> bindings, read once at start-up. Generated code
/// never contains the values; it asks for them by name.
/// </summary>
public sealed class EnsembleEnvironment
{
    private readonly IReadOnlyDictionary<string, string> _values;

    private EnsembleEnvironment(IReadOnlyDictionary<string, string> values) => _values = values;

    /// <summary>An environment with no values (for contexts fixed at compile time).</summary>
    public static EnsembleEnvironment Empty { get; } = new(new Dictionary<string, string>());

    /// <summary>The value of a variable that was checked at start-up.</summary>
    public string Get(string name) => _values.TryGetValue(name, out var value) ? value : string.Empty;

    /// <summary>
    /// Reads every required variable from <paramref name="configuration"/>. If any is missing or empty, throws one
    /// exception that lists each missing name with the ensemble and notification that need it.
    /// </summary>
    /// <exception cref="InvalidOperationException">Some variables are missing; the message never contains a value.</exception>
    public static EnsembleEnvironment Read(IConfiguration? configuration, IEnumerable<EnvironmentRequirement> requirements)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<EnvironmentRequirement>();
        foreach (var requirement in requirements)
        {
            var value = configuration?[requirement.Variable];
            if (string.IsNullOrEmpty(value)) missing.Add(requirement);
            else values[requirement.Variable] = value;
        }

        if (missing.Count > 0)
        {
            var lines = missing
                .GroupBy(m => m.Variable, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"- {g.Key}: needed by " + string.Join("; ", g.Select(m => $"ensemble '{m.Ensemble}', {m.UsedBy}").Distinct()));
            throw new InvalidOperationException(
                "Conductor cannot start: configuration values used by ${env.NAME} bindings are missing or empty. " +
                "Set them as environment variables or configuration keys:\n" + string.Join("\n", lines));
        }

        return new EnsembleEnvironment(values);
    }
}

/// <summary>
/// What the generated <c>AddEnsembles()</c> registers for each ensemble: its name, the configuration values it
/// needs, and a factory for its notifications once those values are known.
/// </summary>
public sealed record EnsembleRegistration(
    string Name,
    IReadOnlyList<EnvironmentRequirement> Requirements,
    Func<EnsembleEnvironment, IReadOnlyList<Notifications.NotificationDefinition>> CreateNotifications)
{
    /// <summary>
    /// What the generated <c>AddEnsembles()</c> calls for each ensemble: adds its registration (unless already there)
    /// and the ensemble class itself as a singleton.
    /// </summary>
    public static Microsoft.Extensions.DependencyInjection.ConductorBuilder Register<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TEnsemble>(
        Microsoft.Extensions.DependencyInjection.ConductorBuilder builder,
        string name,
        IReadOnlyList<EnvironmentRequirement> requirements,
        Func<EnsembleEnvironment, IReadOnlyList<Notifications.NotificationDefinition>> createNotifications)
        where TEnsemble : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        TryAdd(builder.Services, new EnsembleRegistration(name, requirements, createNotifications));
        Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.TryAddSingleton<TEnsemble>(builder.Services);
        return builder;
    }

    /// <summary>Adds a registration unless one with the same ensemble name is already there (so that <c>AddEnsembles()</c> and <c>Add{Ensemble}(...)</c> can both be called).</summary>
    public static void TryAdd(Microsoft.Extensions.DependencyInjection.IServiceCollection services, EnsembleRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(registration);
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(EnsembleRegistration) && descriptor.ImplementationInstance is EnsembleRegistration existing && existing.Name == registration.Name) return;
        }

        Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(services, registration);
    }
}
