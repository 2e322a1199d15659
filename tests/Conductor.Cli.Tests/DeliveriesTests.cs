using System.Text;
using Conductor.Cli;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Cli.Tests;

public sealed class DeliveriesTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2024, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempFolder _folder = new();
    private readonly FakeTimeProvider _time = new(Now);
    private readonly string _store;

    public DeliveriesTests() => _store = Path.Combine(_folder.Path, "conductor-deliveries.db");

    public void Dispose() => _folder.Dispose();

    private static DeliveryRecord Record(string id, string ensemble, DateTimeOffset created, DeliveryStatus status = DeliveryStatus.Pending) =>
        new(id, ensemble, "execution.failed", ensemble + "#0", "webhook", "https://hooks.example.com:443",
            Encoding.UTF8.GetBytes("{\"event\":\"execution.failed\"}"), created, created, status, 0, 4);

    /// <summary>
    /// Seeds: two dead letters of 'billing' (one 40 days old), one delivered of 'billing' 40 days old, one pending of
    /// 'orders', and one dead letter of 'orders' — each finished one through a recorded attempt, as the worker does.
    /// </summary>
    private async Task SeedAsync()
    {
        await using var store = new SqliteDeliveryStore(_store);
        var old = Now.AddDays(-40);
        await store.EnqueueAsync(new[]
        {
            Record("dlv_billing_dead_old", "billing", old),
            Record("dlv_billing_delivered_old", "billing", old.AddMinutes(1)),
            Record("dlv_billing_dead_new", "billing", Now.AddHours(-2)),
            Record("dlv_orders_pending", "orders", Now.AddHours(-1)),
            Record("dlv_orders_dead", "orders", Now.AddMinutes(-30)),
        });
        async Task Finish(string id, DeliveryStatus status, int? code, string? error)
        {
            // Attempted as soon as it was created, as the worker does.
            var started = (await store.GetAsync(id))!.CreatedAt;
            var outcome = status == DeliveryStatus.Delivered ? AttemptOutcome.Delivered : AttemptOutcome.Permanent;
            var kind = status == DeliveryStatus.Delivered ? AttemptErrorKind.None : AttemptErrorKind.HttpStatus;
            await store.RecordAttemptAsync(new AttemptLog(id, 1, started, TimeSpan.FromMilliseconds(20), outcome, code, kind, error, null), status);
        }

        await Finish("dlv_billing_dead_old", DeliveryStatus.DeadLettered, 410, "HTTP 410 Gone");
        await Finish("dlv_billing_delivered_old", DeliveryStatus.Delivered, 200, null);
        await Finish("dlv_billing_dead_new", DeliveryStatus.DeadLettered, 404, "HTTP 404 Not Found");
        await Finish("dlv_orders_dead", DeliveryStatus.DeadLettered, null, "connection refused");
    }

    private async Task<IReadOnlyList<DeliveryRecord>> ReadAllAsync()
    {
        await using var store = new SqliteDeliveryStore(_store);
        return await store.ListAsync(new DeliveryQuery(Limit: 100));
    }

    [Fact]
    public async Task List_shows_a_table_filtered_by_status_and_ensemble()
    {
        await SeedAsync();

        var dead = await CliRun.RunAsync(_time, "deliveries", "list", "--store", _store, "--status", "dead-lettered");
        var billing = await CliRun.RunAsync(_time, "deliveries", "list", "--store", _store, "--ensemble", "billing", "--status", "dead-lettered", "--limit", "1");

        Assert.Equal(0, dead.ExitCode);
        var rows = dead.Out.Split('\n').Where(l => l.Contains("dlv_", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        // Newest first.
        Assert.Contains("dlv_orders_dead", rows[0]);
        Assert.Contains("dlv_billing_dead_new", rows[1]);
        Assert.Contains("dlv_billing_dead_old", rows[2]);
        Assert.Contains("dead-lettered", rows[2]);
        Assert.Contains("1/4", rows[2]);
        Assert.Contains("2024-01-21 12:00:00", rows[2]);
        Assert.EndsWith("HTTP 410 Gone", rows[2].TrimEnd());
        Assert.Contains("connection refused", rows[0]);
        Assert.Contains("3 deliveries (status dead-lettered).", dead.Out);

        var billingRows = billing.Out.Split('\n').Where(l => l.Contains("dlv_", StringComparison.Ordinal)).ToList();
        Assert.Equal(new[] { "dlv_billing_dead_new" }, billingRows.Select(r => r.Trim().Split(' ')[0]));
        Assert.Contains("more may exist, raise --limit", billing.Out);
    }

    [Fact]
    public async Task Replay_by_id_makes_a_dead_letter_pending_and_due_now_and_refuses_others()
    {
        await SeedAsync();

        var result = await CliRun.RunAsync(_time, "deliveries", "replay", "dlv_billing_dead_new", "dlv_orders_pending", "dlv_missing", "--store", _store);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Replayed 1 of 3 deliveries", result.Out);
        Assert.Contains("error: dlv_orders_pending: it is pending, not dead-lettered; only dead letters are replayed", result.Error);
        Assert.Contains("error: dlv_missing: no such delivery in this store", result.Error);
        var all = await ReadAllAsync();
        var replayed = all.Single(r => r.Id == "dlv_billing_dead_new");
        Assert.Equal(DeliveryStatus.Pending, replayed.Status);
        Assert.Equal(Now, replayed.DueAt);
        Assert.Equal(1 + 4, replayed.MaxAttempts); // a fresh budget after the attempt already made
        Assert.Equal(DeliveryStatus.DeadLettered, all.Single(r => r.Id == "dlv_billing_dead_old").Status);
    }

    [Fact]
    public async Task Replay_all_dead_lettered_of_one_ensemble_with_progress()
    {
        await SeedAsync();

        var result = await CliRun.RunAsync(_time, "deliveries", "replay", "--all-dead-lettered", "--ensemble", "billing", "--store", _store);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Replaying 2 deliveries...\n  1/2\n  2/2\n", result.Out);
        Assert.Contains("Replayed 2 of 2 deliveries", result.Out);
        var all = await ReadAllAsync();
        Assert.Equal(DeliveryStatus.Pending, all.Single(r => r.Id == "dlv_billing_dead_old").Status);
        Assert.Equal(DeliveryStatus.Pending, all.Single(r => r.Id == "dlv_billing_dead_new").Status);
        Assert.Equal(DeliveryStatus.DeadLettered, all.Single(r => r.Id == "dlv_orders_dead").Status);
    }

    [Fact]
    public async Task Replay_on_a_terminal_shows_a_spectre_progress_display()
    {
        await SeedAsync();
        var output = new StringWriter();
        var terminal = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Ansi = Spectre.Console.AnsiSupport.Yes,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Interactive = Spectre.Console.InteractionSupport.Yes,
            Out = new Spectre.Console.AnsiConsoleOutput(output),
        });
        terminal.Profile.Width = 120;
        var env = new CliEnvironment(output, new StringWriter(), new StringReader(string.Empty), terminal, _time, interactive: true);

        var code = await ConductorCli.RunAsync(new[] { "deliveries", "replay", "--all-dead-lettered", "--store", _store }, env);

        Assert.Equal(0, code);
        Assert.Contains("Replaying 3 deliveries", output.ToString());
        Assert.Contains("100%", output.ToString());
        Assert.Contains("Replayed 3 of 3 deliveries", output.ToString());
        Assert.DoesNotContain((await ReadAllAsync()), r => r.Status == DeliveryStatus.DeadLettered);
    }

    [Fact]
    public async Task Purge_asks_for_confirmation_and_deletes_nothing_when_declined()
    {
        await SeedAsync();

        var declined = await CliRun.RunWithInputAsync(_time, "n\n", "deliveries", "purge", "--older-than", "30d", "--store", _store);

        Assert.Equal(1, declined.ExitCode);
        Assert.Contains("Delete delivered and dead-lettered deliveries finished before 2024-01-31 12:00:00 UTC (older than 30d)", declined.Out);
        Assert.Contains("Nothing deleted.", declined.Out);
        Assert.Equal(5, (await ReadAllAsync()).Count);
    }

    [Fact]
    public async Task Purge_with_a_status_deletes_only_old_deliveries_of_that_status()
    {
        await SeedAsync();

        var result = await CliRun.RunWithInputAsync(_time, "y\n", "deliveries", "purge", "--older-than", "30d", "--status", "delivered", "--store", _store);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Purged 1 delivered delivery finished before 2024-01-31 12:00:00 UTC.", result.Out);
        var remaining = (await ReadAllAsync()).Select(r => r.Id).OrderBy(i => i, StringComparer.Ordinal);
        Assert.Equal(new[] { "dlv_billing_dead_new", "dlv_billing_dead_old", "dlv_orders_dead", "dlv_orders_pending" }, remaining);
    }

    [Fact]
    public async Task Purge_with_yes_deletes_old_finished_deliveries_and_keeps_pending_and_recent_ones()
    {
        await SeedAsync();

        var result = await CliRun.RunAsync(_time, "deliveries", "purge", "--older-than", "30d", "--yes", "--store", _store);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Purged 2 delivered and dead-lettered deliveries", result.Out);
        var remaining = (await ReadAllAsync()).Select(r => r.Id).OrderBy(i => i, StringComparer.Ordinal);
        Assert.Equal(new[] { "dlv_billing_dead_new", "dlv_orders_dead", "dlv_orders_pending" }, remaining);
        await using var store = new SqliteDeliveryStore(_store);
        Assert.Empty(await store.AttemptsAsync("dlv_billing_dead_old"));
    }

    [Fact]
    public async Task Pending_cannot_be_purged_and_a_missing_store_is_not_created()
    {
        await SeedAsync();
        var missing = Path.Combine(_folder.Path, "typo.db");

        var pending = await CliRun.RunAsync(_time, "deliveries", "purge", "--older-than", "1d", "--status", "pending", "--yes", "--store", _store);
        var absent = await CliRun.RunAsync(_time, "deliveries", "list", "--store", missing);

        Assert.Equal(2, pending.ExitCode);
        Assert.Contains("pending deliveries are never purged", pending.Error);
        Assert.Equal(2, absent.ExitCode);
        Assert.Contains($"No SQLite delivery store at '{missing}'", absent.Error);
        Assert.False(File.Exists(missing));
    }
}

public sealed class StoreCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _folder.Dispose();

    /// <summary>Runs <paramref name="sql"/> on the SQLite file <paramref name="file"/> (creating it if needed).</summary>
    private static async Task SqlAsync(string file, string sql)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Status_reports_what_migrate_would_do_and_a_newer_store_is_refused_and_left_alone()
    {
        var file = Path.Combine(_folder.Path, "old.db");
        // Schema version 5, as the release before retention left it (only what the status needs: its version table).
        await SqlAsync(file, "PRAGMA journal_mode=WAL; CREATE TABLE conductor_schema (version INTEGER NOT NULL); INSERT INTO conductor_schema VALUES (5);");

        var status = await CliRun.RunAsync(_time, "store", "status", "--store", file);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("Schema version: 5 (this conductor writes 7)", status.Out);
        Assert.Contains("Behind: 'conductor store migrate' would bring it from 5 to 7:", status.Out);
        Assert.Contains("v6: add finished_at (retention)", status.Out);
        Assert.Contains("v7: create the endpoints table", status.Out);

        var fresh = Path.Combine(_folder.Path, "fresh.db");
        new SqliteDeliveryStore(fresh).Dispose();
        var current = await CliRun.RunAsync(_time, "store", "status", "--store", fresh);
        Assert.Contains("Up to date", current.Out);

        var newer = Path.Combine(_folder.Path, "newer.db");
        new SqliteDeliveryStore(newer).Dispose();
        await SqlAsync(newer, "UPDATE conductor_schema SET version = 99");

        var refused = await CliRun.RunAsync(_time, "store", "migrate", "--store", newer);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("newer than this conductor understands", refused.Error);
        Assert.Equal(99, SqliteDeliveryStore.ReadSchema(newer).Version);

        var missing = await CliRun.RunAsync(_time, "store", "status", "--store", Path.Combine(_folder.Path, "typo.db"));
        Assert.Equal(2, missing.ExitCode);
        Assert.False(File.Exists(Path.Combine(_folder.Path, "typo.db")));
    }

    [Fact]
    public async Task Migrate_brings_a_store_up_to_date_once()
    {
        var file = Path.Combine(_folder.Path, "v5.db");
        await using (var store = new SqliteDeliveryStore(file)) { }
        // Back to version 5: the table of step 7 and the column and index of step 6 removed.
        await SqlAsync(file, "DROP TABLE endpoints; DROP INDEX deliveries_finished; ALTER TABLE deliveries DROP COLUMN finished_at; UPDATE conductor_schema SET version = 5;");

        // The other commands never migrate as a side effect: they name the command that does.
        var list = await CliRun.RunAsync(_time, "deliveries", "list", "--store", file);
        Assert.Equal(2, list.ExitCode);
        Assert.Contains("schema version 5", list.Error);
        Assert.Contains("conductor store migrate", list.Error);

        var first = await CliRun.RunAsync(_time, "store", "migrate", "--store", file);
        Assert.Equal(0, first.ExitCode);
        Assert.Contains("migrating schema 5 -> 7", first.Out);
        Assert.Contains("from schema version 5 to 7", first.Out);
        var again = await CliRun.RunAsync(_time, "store", "migrate", "--store", file);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already up to date; nothing to do", again.Out);
    }
}
