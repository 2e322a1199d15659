namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>
/// The store tables exactly as the release before schema versions created them: "deliveries" and "attempts" for SQLite,
/// the same with "conductor_" in front for PostgreSQL (which also had conductor_schema at version 1). Times are UTC ticks.
/// </summary>
public static class ReleasedSchema
{
    private const string TablesTemplate = """
        CREATE TABLE {p}deliveries (
            id TEXT PRIMARY KEY, ensemble TEXT NOT NULL, event TEXT NOT NULL, notification_key TEXT NOT NULL, channel TEXT NOT NULL,
            endpoint TEXT NOT NULL, payload {blob} NOT NULL, created_at BIGINT NOT NULL, due_at BIGINT NOT NULL, status INTEGER NOT NULL,
            attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL, last_status_code INTEGER NULL, last_error_kind INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NULL, leased_until BIGINT NULL);
        CREATE INDEX {p}deliveries_due ON {p}deliveries (status, due_at, id);
        CREATE INDEX {p}deliveries_created ON {p}deliveries (created_at);
        CREATE TABLE {p}attempts (
            delivery_id TEXT NOT NULL, number INTEGER NOT NULL, started_at BIGINT NOT NULL, duration_ticks BIGINT NOT NULL, outcome INTEGER NOT NULL,
            status_code INTEGER NULL, error_kind INTEGER NOT NULL, error TEXT NULL, next_due_at BIGINT NULL, PRIMARY KEY (delivery_id, number));

        """;

    /// <summary>The CREATE statements, for SQLite (<paramref name="postgreSql"/> false) or PostgreSQL.</summary>
    public static string Tables(bool postgreSql) => TablesTemplate
        .Replace("{p}", postgreSql ? "conductor_" : string.Empty, StringComparison.Ordinal)
        .Replace("{blob}", postgreSql ? "bytea" : "BLOB", StringComparison.Ordinal)
        + (postgreSql ? "CREATE TABLE conductor_schema (version integer NOT NULL); INSERT INTO conductor_schema VALUES (1);\n" : string.Empty);
}
