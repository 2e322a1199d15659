using System.Globalization;
using Conductor.Cli.Deliveries;
using Conductor.Sdk.Delivery;

namespace Conductor.Cli.Endpoints;

/// <summary>
/// <c>conductor endpoints list | enable | disable</c>: the endpoint states every process of the application shares
/// through the store. A change made here takes effect in the running application within its
/// <c>Conductor:Endpoints:CheckInterval</c> (15 s by default).
/// </summary>
internal static class EndpointsCommands
{
    public static async Task<int> ListAsync(CliEnvironment env, string storeText, CancellationToken cancellationToken)
    {
        var store = await DeliveryStores.OpenAsync(storeText).ConfigureAwait(false);
        try
        {
            var statuses = await ReadAsync(store, env.Time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            if (statuses.Count == 0)
            {
                env.Out.WriteLine("No endpoint has failed, been disabled or has due deliveries.");
                return ExitCodes.Success;
            }

            env.Out.WriteLine($"{"ENDPOINT",-40} {"STATE",-9} {"SINCE (UTC)",-19} {"DUE",8} {"OLDEST DUE",-10} DETAIL");
            foreach (var s in statuses)
            {
                var since = s.Health switch
                {
                    EndpointHealth.Disabled => s.State.DisabledAt,
                    EndpointHealth.Failing => s.State.FailingSince,
                    _ => null,
                };
                var detail = s.Health switch
                {
                    EndpointHealth.Disabled => s.State.DisabledReason,
                    EndpointHealth.Failing => $"{s.State.FailedAttempts} failed attempts; last: {s.State.LastError}",
                    _ => string.Empty,
                };
                env.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s.Endpoint,-40} {s.Health.ToString().ToLowerInvariant(),-9} {since?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-",-19} {s.Due,8} {(s.OldestDue is null ? "-" : Age(s.OldestDueAge)),-10} {detail}"));
            }

            return ExitCodes.Success;
        }
        finally
        {
            await DeliveryStores.CloseAsync(store).ConfigureAwait(false);
        }
    }

    public static Task<int> DisableAsync(CliEnvironment env, string storeText, string endpoint, string? reason, CancellationToken cancellationToken) =>
        ChangeAsync(env, storeText, endpoint, cancellationToken, async (states, known) =>
        {
            if (known.Health == EndpointHealth.Disabled)
            {
                env.Out.WriteLine($"{endpoint} is already disabled ({known.State.DisabledReason}); nothing changed.");
                return ExitCodes.Success;
            }

            await states.DisableEndpointAsync(known.Endpoint, env.Time.GetUtcNow(), string.IsNullOrWhiteSpace(reason) ? "disabled by an operator (conductor endpoints disable)" : reason.Trim(), cancellationToken).ConfigureAwait(false);
            env.Out.WriteLine($"Disabled {endpoint}. Its {known.Due} due deliveries (and new ones) are kept and not attempted until 'conductor endpoints enable {endpoint}'.");
            return ExitCodes.Success;
        });

    public static Task<int> EnableAsync(CliEnvironment env, string storeText, string endpoint, CancellationToken cancellationToken) =>
        ChangeAsync(env, storeText, endpoint, cancellationToken, async (states, known) =>
        {
            if (known.Health != EndpointHealth.Disabled)
            {
                env.Out.WriteLine($"{endpoint} is not disabled ({known.Health.ToString().ToLowerInvariant()}); nothing changed.");
                return ExitCodes.Success;
            }

            await states.EnableEndpointAsync(known.Endpoint, env.Time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            env.Out.WriteLine($"Enabled {endpoint}. The application's worker sends its {known.Due} due deliveries in due order (within Conductor:Endpoints:CheckInterval, 15 s by default).");
            return ExitCodes.Success;
        });

    private static async Task<int> ChangeAsync(CliEnvironment env, string storeText, string endpoint, CancellationToken cancellationToken, Func<IEndpointStateStore, EndpointStatus, Task<int>> change)
    {
        if (string.IsNullOrWhiteSpace(endpoint)) throw new CliUsageException("Name the endpoint, as 'conductor endpoints list' shows it (for example https://hooks.example.com).");
        var store = await DeliveryStores.OpenAsync(storeText).ConfigureAwait(false);
        try
        {
            var statuses = await ReadAsync(store, env.Time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            // A typo must not disable nothing silently: the endpoint must be one the store knows.
            var known = statuses.FirstOrDefault(s => string.Equals(s.Endpoint, endpoint.Trim().TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
                ?? throw new CliUsageException($"The store knows no endpoint '{endpoint}'. Known: {(statuses.Count == 0 ? "none" : string.Join(", ", statuses.Select(s => s.Endpoint)))}.");
            return await change((IEndpointStateStore)store, known).ConfigureAwait(false);
        }
        finally
        {
            await DeliveryStores.CloseAsync(store).ConfigureAwait(false);
        }
    }

    private static async Task<IReadOnlyList<EndpointStatus>> ReadAsync(IDeliveryStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (store is not IEndpointStateStore states) throw new CliUsageException("This store keeps no endpoint states.");
        // The endpoints of deliveries stored at all (not only due ones) are known too, so that an idle one can be disabled.
        return EndpointLifecycle.Join(
            await states.EndpointsAsync(cancellationToken).ConfigureAwait(false),
            await states.EndpointBacklogAsync(now, cancellationToken).ConfigureAwait(false),
            (await store.ListAsync(new DeliveryQuery(Limit: 500), cancellationToken).ConfigureAwait(false)).Select(d => d.Endpoint),
            now);
    }

    private static string Age(TimeSpan age) =>
        age.TotalDays >= 1 ? $"{age.TotalDays:0.#}d" : age.TotalHours >= 1 ? $"{age.TotalHours:0.#}h" : age.TotalMinutes >= 1 ? $"{age.TotalMinutes:0}m" : $"{age.TotalSeconds:0}s";
}
