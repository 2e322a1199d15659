namespace Conductor.Sdk.Delivery;

/// <summary>
/// The schema of a delivery store as <c>conductor store status</c> reports it: the version it is at, the version this
/// package writes, and what a migration would do, step by step.
/// </summary>
/// <param name="Store">Which store (<c>SQLite /path</c>, <c>PostgreSQL host:port/database</c>).</param>
/// <param name="Version">Its schema version; 0 when it has no Conductor tables yet.</param>
/// <param name="Latest">The version this package writes.</param>
/// <param name="PendingSteps">What migrating would do, one line per version step (empty when current or newer).</param>
public sealed record DeliveryStoreSchema(string Store, int Version, int Latest, IReadOnlyList<string> PendingSteps)
{
    /// <summary>Whether the schema is this package's.</summary>
    public bool IsCurrent => Version == Latest;

    /// <summary>Whether the schema is newer than this package understands (a newer release migrated it): refuse to touch it.</summary>
    public bool IsNewer => Version > Latest;

    /// <summary>The status of a store at <paramref name="version"/>, given the notes of every step.</summary>
    public static DeliveryStoreSchema Of(string store, int version, IReadOnlyList<string> notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        var steps = new List<string>();
        for (var step = version; step < notes.Count; step++) steps.Add($"v{step + 1}: {notes[step]}");
        return new DeliveryStoreSchema(store, version, notes.Count, steps);
    }
}

/// <summary>What <c>conductor store migrate</c> did: the versions before and after, and the steps it ran.</summary>
public sealed record DeliveryStoreMigration(string Store, int From, int To, IReadOnlyList<string> Steps);
