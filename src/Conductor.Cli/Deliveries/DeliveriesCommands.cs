using System.Globalization;
using Conductor.Sdk.Delivery;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Conductor.Cli.Deliveries;

/// <summary><c>conductor deliveries list | replay | purge</c> over a SQLite file or a PostgreSQL database.</summary>
internal static class DeliveriesCommands
{
    /// <summary>The retention the application runs with, as given on the command line (durations, or "infinite").</summary>
    public static Conductor.Sdk.ConductorRetentionOptions Retention(string delivered, string deadLettered)
    {
        static TimeSpan Read(string text, string option) =>
            string.Equals(text.Trim(), "infinite", StringComparison.OrdinalIgnoreCase) ? Conductor.Sdk.ConductorRetentionOptions.Infinite : Durations.Parse(text, option);
        return new Conductor.Sdk.ConductorRetentionOptions
        {
            Delivered = Read(delivered, "--retention-delivered"),
            DeadLettered = Read(deadLettered, "--retention-dead-lettered"),
        };
    }

    public static async Task<int> ListAsync(CliEnvironment env, string storeText, string? statusText, string? ensemble, int limit, Conductor.Sdk.ConductorRetentionOptions retention, CancellationToken cancellationToken)
    {
        if (limit <= 0) throw new CliUsageException($"--limit must be at least 1, not {limit}.");
        var status = DeliveryStores.ParseStatus(statusText);
        var store = await DeliveryStores.OpenAsync(storeText).ConfigureAwait(false);
        try
        {
            var records = await store.ListAsync(new DeliveryQuery(Ensemble: ensemble, Status: status, Limit: limit), cancellationToken).ConfigureAwait(false);
            var table = new Table().Border(TableBorder.Simple);
            foreach (var column in new[] { "Id", "Ensemble", "Event", "Channel", "Endpoint", "Status", "Attempts", "Created (UTC)", "Due (UTC)", "Expires (UTC)", "Last error" })
            {
                table.AddColumn(new TableColumn(Markup.Escape(column)).NoWrap());
            }

            foreach (var record in records)
            {
                // The stored error already names the status ("HTTP 410 Gone"); the code alone is the fallback.
                var lastError = record.LastError
                    ?? (record.LastStatusCode is { } code && record.Status != DeliveryStatus.Delivered ? $"HTTP {code}" : null)
                    ?? (record.LastErrorKind == Conductor.Sdk.Channels.AttemptErrorKind.None ? string.Empty : record.LastErrorKind.ToString());
                table.AddRow(new IRenderable[]
                {
                    new Text(record.Id), new Text(record.Ensemble), new Text(record.Event), new Text(record.Channel), new Text(record.Endpoint),
                    new Text(DeliveryStores.Name(record.Status)), new Text($"{record.Attempts}/{record.MaxAttempts}"),
                    new Text(Time(record.CreatedAt)), new Text(record.Status == DeliveryStatus.Pending ? Time(record.DueAt) : "-"),
                    new Text(record.Status == DeliveryStatus.Pending ? "-" : retention.ExpiresAt(record) is { } expires ? Time(expires) : "never"),
                    new Text(lastError.Trim()),
                });
            }

            env.Console.Write(table);
            var filter = string.Join(", ", new[] { statusText is null ? null : "status " + DeliveryStores.Name(status!.Value), ensemble is null ? null : $"ensemble '{ensemble}'" }.Where(s => s is not null));
            env.Console.WriteLine($"{records.Count} deliver{(records.Count == 1 ? "y" : "ies")}{(filter.Length > 0 ? " (" + filter + ")" : string.Empty)}{(records.Count == limit ? $"; more may exist, raise --limit (now {limit})" : string.Empty)}.");
            return ExitCodes.Success;
        }
        finally
        {
            await DeliveryStores.CloseAsync(store).ConfigureAwait(false);
        }
    }

    public static async Task<int> ReplayAsync(CliEnvironment env, string storeText, IReadOnlyList<string> ids, bool allDeadLettered, string? ensemble, CancellationToken cancellationToken)
    {
        if (ids.Count == 0 && !allDeadLettered) throw new CliUsageException("Name the deliveries to replay (conductor deliveries replay dlv_... dlv_...) or pass --all-dead-lettered.");
        if (ids.Count > 0 && allDeadLettered) throw new CliUsageException("Pass delivery ids or --all-dead-lettered, not both.");
        var store = await DeliveryStores.OpenAsync(storeText).ConfigureAwait(false);
        try
        {
            var targets = ids.ToList();
            if (allDeadLettered)
            {
                var dead = await store.ListAsync(new DeliveryQuery(Ensemble: ensemble, Status: DeliveryStatus.DeadLettered, Limit: int.MaxValue), cancellationToken).ConfigureAwait(false);
                targets = dead.OrderBy(d => d.CreatedAt).ThenBy(d => d.Id, StringComparer.Ordinal).Select(d => d.Id).ToList();
                if (targets.Count == 0)
                {
                    env.Out.WriteLine($"No dead-lettered deliveries{(ensemble is null ? string.Empty : $" of ensemble '{ensemble}'")}; nothing to replay.");
                    return ExitCodes.Success;
                }
            }

            var problems = new List<string>();
            var replayed = 0;
            async Task ReplayOneAsync(string id)
            {
                if (await store.ReplayAsync(id, env.Time.GetUtcNow(), cancellationToken).ConfigureAwait(false))
                {
                    replayed++;
                    return;
                }

                var record = await store.GetAsync(id, cancellationToken).ConfigureAwait(false);
                problems.Add(record is null
                    ? $"{id}: no such delivery in this store"
                    : $"{id}: it is {DeliveryStores.Name(record.Status)}, not dead-lettered; only dead letters are replayed");
            }

            if (targets.Count > 1 && env.Console.Profile.Capabilities.Interactive)
            {
                await env.Console.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .StartAsync(async context =>
                    {
                        var task = context.AddTask($"Replaying {targets.Count} deliveries", maxValue: targets.Count);
                        foreach (var id in targets)
                        {
                            await ReplayOneAsync(id).ConfigureAwait(false);
                            task.Increment(1);
                        }
                    }).ConfigureAwait(false);
            }
            else
            {
                // Redirected output (CI, a log file): progress as plain lines, about every tenth.
                if (targets.Count > 1) env.Out.WriteLine($"Replaying {targets.Count} deliveries...");
                var step = Math.Max(1, targets.Count / 10);
                for (var i = 0; i < targets.Count; i++)
                {
                    await ReplayOneAsync(targets[i]).ConfigureAwait(false);
                    if (targets.Count > 1 && ((i + 1) % step == 0 || i + 1 == targets.Count)) env.Out.WriteLine($"  {i + 1}/{targets.Count}");
                }
            }

            foreach (var problem in problems) env.Error.WriteLine("error: " + problem);
            env.Out.WriteLine($"Replayed {replayed} of {targets.Count} deliver{(targets.Count == 1 ? "y" : "ies")}: pending again, due now, with a fresh retry budget. A running worker sends them at its next poll.");
            return problems.Count == 0 ? ExitCodes.Success : ExitCodes.Failure;
        }
        finally
        {
            await DeliveryStores.CloseAsync(store).ConfigureAwait(false);
        }
    }

    public static async Task<int> PurgeAsync(CliEnvironment env, string storeText, string olderThan, string? statusText, bool yes, CancellationToken cancellationToken)
    {
        var age = Durations.Parse(olderThan, "--older-than");
        var status = DeliveryStores.ParseStatus(statusText, allowPending: false);
        var cutoff = env.Time.GetUtcNow() - age;
        var what = status is null ? "delivered and dead-lettered" : DeliveryStores.Name(status.Value);
        var where = DeliveryStores.IsConnectionString(storeText) ? "the PostgreSQL store" : $"'{storeText}'";
        var store = await DeliveryStores.OpenAsync(storeText).ConfigureAwait(false);
        try
        {
            if (!yes)
            {
                if (!env.Interactive)
                {
                    env.Error.WriteLine($"Refusing to delete without confirmation: pass --yes to delete {what} deliveries finished before {Time(cutoff)} from {where}.");
                    return ExitCodes.Usage;
                }

                env.Out.Write($"Delete {what} deliveries finished before {Time(cutoff)} UTC (older than {olderThan}) and their attempt logs from {where}? [y/N] ");
                env.Out.Flush();
                var answer = env.In.ReadLine()?.Trim();
                if (!string.Equals(answer, "y", StringComparison.OrdinalIgnoreCase) && !string.Equals(answer, "yes", StringComparison.OrdinalIgnoreCase))
                {
                    env.Out.WriteLine("Nothing deleted.");
                    return ExitCodes.Failure;
                }
            }

            // The same batched deletion as retention: short transactions, so a running application's Notify is not held up.
            var deleted = 0;
            foreach (var one in status is { } only ? new[] { only } : new[] { DeliveryStatus.Delivered, DeliveryStatus.DeadLettered })
            {
                deleted += await DeliveryPruning.PruneAsync(store, one, cutoff, cancellationToken).ConfigureAwait(false);
            }

            env.Out.WriteLine($"Purged {deleted} {what} deliver{(deleted == 1 ? "y" : "ies")} finished before {Time(cutoff)} UTC. Pending deliveries are never purged.");
            return ExitCodes.Success;
        }
        finally
        {
            await DeliveryStores.CloseAsync(store).ConfigureAwait(false);
        }
    }

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
