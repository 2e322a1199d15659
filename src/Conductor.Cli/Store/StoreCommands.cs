using Conductor.Cli.Deliveries;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.PostgreSql;
using Conductor.Sdk.Sqlite;

namespace Conductor.Cli.Store;

/// <summary>
/// <c>conductor store status | migrate</c>: the schema of a SQLite file or a PostgreSQL database, and its migration as a
/// deploy step (for applications that set <c>Conductor:AutoMigrate</c> to false).
/// </summary>
internal static class StoreCommands
{
    public static async Task<int> StatusAsync(CliEnvironment env, string storeText, CancellationToken cancellationToken)
    {
        var schema = await ReadAsync(storeText, cancellationToken).ConfigureAwait(false);
        env.Out.WriteLine($"Store: {schema.Store}");
        env.Out.WriteLine($"Schema version: {schema.Version} (this conductor writes {schema.Latest})");
        if (schema.IsNewer)
        {
            env.Out.WriteLine($"The store is newer than this conductor understands: upgrade the tool (and the application's Conductor.Sdk packages); nothing will be changed.");
            return ExitCodes.Failure;
        }

        if (schema.IsCurrent)
        {
            env.Out.WriteLine("Up to date: 'conductor store migrate' has nothing to do.");
            return ExitCodes.Success;
        }

        env.Out.WriteLine($"Behind: 'conductor store migrate' would bring it from {schema.Version} to {schema.Latest}:");
        foreach (var step in schema.PendingSteps) env.Out.WriteLine("  " + step);
        return ExitCodes.Success;
    }

    public static async Task<int> MigrateAsync(CliEnvironment env, string storeText, CancellationToken cancellationToken)
    {
        var before = await ReadAsync(storeText, cancellationToken).ConfigureAwait(false);
        if (before.IsNewer)
        {
            env.Error.WriteLine($"error: {before.Store} is at schema version {before.Version}, newer than this conductor understands ({before.Latest}); it is left as it is. Upgrade the tool.");
            return ExitCodes.Failure;
        }

        if (before.IsCurrent)
        {
            env.Out.WriteLine($"{before.Store}: schema version {before.Version}, already up to date; nothing to do.");
            return ExitCodes.Success;
        }

        env.Out.WriteLine($"{before.Store}: migrating schema {before.Version} -> {before.Latest}");
        foreach (var step in before.PendingSteps) env.Out.WriteLine("  " + step);
        DeliveryStoreMigration done;
        try
        {
            if (DeliveryStores.IsConnectionString(storeText))
            {
                await using var postgres = new PostgreSqlDeliveryStore(storeText, autoMigrate: false);
                done = await postgres.MigrateSchemaAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                done = SqliteDeliveryStore.MigrateSchema(storeText);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            env.Error.WriteLine(DeliveryStores.IsConnectionString(storeText)
                ? $"error: the migration stopped: {ex.Message}. Steps finished before the failure are kept (each is recorded when done); run the command again to resume."
                : $"error: the migration failed and the file is left as it was: {ex.Message}");
            return ExitCodes.Failure;
        }

        env.Out.WriteLine($"Migrated {done.Store} from schema version {done.From} to {done.To}.");
        return ExitCodes.Success;
    }

    private static async Task<DeliveryStoreSchema> ReadAsync(string storeText, CancellationToken cancellationToken)
    {
        if (DeliveryStores.Check(storeText))
        {
            try
            {
                await using var postgres = new PostgreSqlDeliveryStore(storeText, autoMigrate: false);
                return await postgres.ReadSchemaAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ArgumentException or Npgsql.NpgsqlException or TimeoutException)
            {
                throw new CliUsageException($"Cannot open the PostgreSQL store: {ex.Message}");
            }
        }

        try
        {
            return SqliteDeliveryStore.ReadSchema(storeText);
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            throw new CliUsageException($"Cannot read the SQLite store '{storeText}': {ex.Message}");
        }
    }
}
