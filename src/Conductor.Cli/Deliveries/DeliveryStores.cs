using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;

namespace Conductor.Cli.Deliveries;

/// <summary>Opens the store named by <c>--store</c>: a PostgreSQL connection string (it contains '='), otherwise a SQLite file.</summary>
internal static class DeliveryStores
{
    public static bool IsConnectionString(string store) => store.Contains('=', StringComparison.Ordinal);

    /// <summary>The store; dispose it when done. A SQLite file must exist: an operator's typo must not create an empty store.</summary>
    public static async ValueTask<IDeliveryStore> OpenAsync(string store)
    {
        if (Check(store))
        {
            try
            {
                // The CLI never migrates as a side effect: 'conductor store migrate' does (AutoMigrate may be off).
                var postgres = new PostgreSqlDeliveryStore(store, autoMigrate: false);
                await postgres.ListAsync(new DeliveryQuery(Limit: 1)).ConfigureAwait(false);
                return postgres;
            }
            catch (Exception ex) when (ex is ArgumentException or Npgsql.NpgsqlException or InvalidOperationException)
            {
                // Npgsql's messages name the host and database, never the password.
                throw new CliUsageException($"Cannot open the PostgreSQL store: {ex.Message}");
            }
        }

        try
        {
            return new SqliteDeliveryStore(store, autoMigrate: false);
        }
        catch (InvalidOperationException ex)
        {
            throw new CliUsageException($"Cannot open the SQLite store: {ex.Message}");
        }
    }

    /// <summary>
    /// Checks <c>--store</c>: true for a PostgreSQL connection string; for a SQLite path, that the file exists (an
    /// operator's typo must not create an empty store).
    /// </summary>
    public static bool Check(string store)
    {
        if (string.IsNullOrWhiteSpace(store)) throw new CliUsageException("--store is empty; pass a SQLite file path or a PostgreSQL connection string (Host=...;Database=...).");
        if (store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            throw new CliUsageException("--store takes a PostgreSQL connection string in key=value form, for example 'Host=db;Database=app;Username=conductor', not a URL.");
        }

        if (IsConnectionString(store)) return true;
        if (!File.Exists(store))
        {
            throw new CliUsageException($"No SQLite delivery store at '{store}'. The application logs where its store is at start-up (\"Deliveries are stored in the SQLite file …\"); by default that is Conductor/<application name>/conductor-deliveries.db under the user's local application data (~/.local/share on Linux) or App_Data/conductor-deliveries.db under its content root.");
        }

        return false;
    }

    public static async ValueTask CloseAsync(IDeliveryStore store)
    {
        switch (store)
        {
            case IAsyncDisposable asyncDisposable: await asyncDisposable.DisposeAsync().ConfigureAwait(false); break;
            case IDisposable disposable: disposable.Dispose(); break;
        }
    }

    /// <summary>The status names the CLI shows and accepts.</summary>
    public static string Name(DeliveryStatus status) => status switch
    {
        DeliveryStatus.Pending => "pending",
        DeliveryStatus.Delivered => "delivered",
        _ => "dead-lettered",
    };

    public static DeliveryStatus? ParseStatus(string? text, bool allowPending = true)
    {
        if (text is null) return null;
        return text.ToLowerInvariant() switch
        {
            "pending" when allowPending => DeliveryStatus.Pending,
            "delivered" => DeliveryStatus.Delivered,
            "dead-lettered" or "deadlettered" or "dead" => DeliveryStatus.DeadLettered,
            _ => throw new CliUsageException(allowPending
                ? $"--status '{text}' is not known; use pending, delivered or dead-lettered."
                : $"--status '{text}' cannot be purged; use delivered or dead-lettered (pending deliveries are never purged)."),
        };
    }
}
