namespace Conductor.Sdk.Notifications;

/// <summary>Every notification the application knows, by ensemble. Built once at start-up.</summary>
public sealed class NotificationRegistry
{
    private readonly Dictionary<string, List<NotificationDefinition>> _byEnsemble = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NotificationDefinition> _byKey = new(StringComparer.Ordinal);
    // By ensemble, then event: what each Notify reaches, built once so that dispatching allocates no list.
    private readonly Dictionary<string, Dictionary<string, NotificationDefinition[]>> _byEvent = new(StringComparer.Ordinal);

    /// <summary>Creates a registry from definitions.</summary>
    /// <exception cref="ArgumentException">Two definitions share an ensemble and index.</exception>
    public NotificationRegistry(IEnumerable<NotificationDefinition> definitions)
    {
        foreach (var definition in definitions)
        {
            if (!_byKey.TryAdd(definition.Key, definition))
            {
                throw new ArgumentException($"{definition.Describe()} is registered twice.", nameof(definitions));
            }

            if (!_byEnsemble.TryGetValue(definition.Ensemble, out var list)) _byEnsemble[definition.Ensemble] = list = new();
            list.Add(definition);
        }

        foreach (var (ensemble, list) in _byEnsemble)
        {
            var byEvent = new Dictionary<string, NotificationDefinition[]>(StringComparer.Ordinal);
            foreach (var name in list.SelectMany(d => d.Events).Distinct(StringComparer.Ordinal))
            {
                byEvent[name] = list.Where(d => d.Events.Contains(name)).ToArray();
            }

            _byEvent[ensemble] = byEvent;
        }
    }

    /// <summary>The notifications of an ensemble that subscribe to an event, in registration order (empty when none do).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="ensemble"/> or <paramref name="eventName"/> is null.</exception>
    public IReadOnlyList<NotificationDefinition> ForEvent(string ensemble, string eventName)
    {
        ArgumentNullException.ThrowIfNull(ensemble);
        ArgumentNullException.ThrowIfNull(eventName);
        return _byEvent.TryGetValue(ensemble, out var byEvent) && byEvent.TryGetValue(eventName, out var list) ? list : Array.Empty<NotificationDefinition>();
    }

    /// <summary>All definitions.</summary>
    public IEnumerable<NotificationDefinition> All => _byKey.Values;

    /// <summary>The notifications of an ensemble (empty when it has none).</summary>
    public IReadOnlyList<NotificationDefinition> ForEnsemble(string ensemble) =>
        _byEnsemble.TryGetValue(ensemble, out var list) ? list : Array.Empty<NotificationDefinition>();

    /// <summary>Looks a definition up by its <c>{ensemble}#{index}</c> key.</summary>
    public NotificationDefinition? Find(string key) =>
        _byKey.TryGetValue(key, out var definition) ? definition : _byKey.GetValueOrDefault(NotificationDefinition.ParseDeliveryKey(key).Key);
}
