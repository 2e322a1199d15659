using System.CommandLine;
using Conductor.Cli.Deliveries;
using Conductor.Cli.Rendering;
using Conductor.Cli.Validation;
using Conductor.Cli.Verification;

namespace Conductor.Cli;

/// <summary>The command tree of <c>conductor</c>; every command writes through the <see cref="CliEnvironment"/> it is given.</summary>
internal static class ConductorCli
{
    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliEnvironment env, CancellationToken cancellationToken = default)
    {
        var root = Create(env);
        // '@' starts a --body file, not a response file.
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0 && !args.Any(a => a is "-h" or "--help" or "-?"))
        {
            // Exit code 1 means "invalid" for validate and verify; a malformed command line must not look like that.
            foreach (var error in parse.Errors) await env.Error.WriteLineAsync("error: " + error.Message).ConfigureAwait(false);
            await env.Error.WriteLineAsync("Run 'conductor --help' (or 'conductor <command> --help') for the usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = env.Out, Error = env.Error, EnableDefaultExceptionHandler = false }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a command body, turning a usage problem into a one-line message and exit code 2.</summary>
    private static async Task<int> Guard(CliEnvironment env, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (CliUsageException ex)
        {
            await env.Error.WriteLineAsync("error: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
    }

    private static RootCommand Create(CliEnvironment env)
    {
        var root = new RootCommand("conductor: validate ensembles, preview notifications, verify webhook signatures and operate the delivery store.");
        root.Add(Validate(env));
        root.Add(Render(env));
        root.Add(Verify(env));
        root.Add(Deliveries(env));
        root.Add(SchemaCommand(env));
        root.Add(StoreCommand(env));
        root.Add(EndpointsCommand(env));
        return root;
    }

    private static Option<string> StoreOption() =>
        new("--store") { Description = "The delivery store: a SQLite file path, or a PostgreSQL connection string (Host=...;Database=...).", Required = true };

    private static Command EndpointsCommand(CliEnvironment env)
    {
        var listStore = StoreOption();
        var list = new Command("list", "List endpoints: state (healthy, failing, disabled), since when, due deliveries, the oldest due one's age, and why.") { listStore };
        list.SetAction((result, token) => Guard(env, () => Conductor.Cli.Endpoints.EndpointsCommands.ListAsync(env, result.GetValue(listStore)!, token)));
        var disableStore = StoreOption();
        var disableEndpoint = new Argument<string>("endpoint") { Description = "The endpoint, as 'endpoints list' shows it (https://host[:port], email:provider, ...)." };
        var reason = new Option<string?>("--reason") { Description = "Why (shown in 'endpoints list', the dashboard and the endpoint.disabled event)." };
        var disable = new Command("disable", "Stop attempting an endpoint; its deliveries are kept until it is enabled.") { disableStore, disableEndpoint, reason };
        disable.SetAction((result, token) => Guard(env, () => Conductor.Cli.Endpoints.EndpointsCommands.DisableAsync(env, result.GetValue(disableStore)!, result.GetValue(disableEndpoint)!, result.GetValue(reason), token)));
        var enableStore = StoreOption();
        var enableEndpoint = new Argument<string>("endpoint") { Description = "The endpoint, as 'endpoints list' shows it." };
        var enable = new Command("enable", "Attempt a disabled endpoint again; its kept deliveries are sent in due order.") { enableStore, enableEndpoint };
        enable.SetAction((result, token) => Guard(env, () => Conductor.Cli.Endpoints.EndpointsCommands.EnableAsync(env, result.GetValue(enableStore)!, result.GetValue(enableEndpoint)!, token)));
        return new Command("endpoints", "The endpoint lifecycle shared by the application's processes: list, disable, enable.") { list, disable, enable };
    }

    private static Command StoreCommand(CliEnvironment env)
    {
        var statusStore = StoreOption();
        var status = new Command("status", "Show the store's schema version and what 'migrate' would do (changes nothing).") { statusStore };
        status.SetAction((result, token) => Guard(env, () => Conductor.Cli.Store.StoreCommands.StatusAsync(env, result.GetValue(statusStore)!, token)));
        var migrateStore = StoreOption();
        var migrate = new Command("migrate", "Bring the store's schema to this version (idempotent; refuses a newer schema). For apps with Conductor:AutoMigrate=false.") { migrateStore };
        migrate.SetAction((result, token) => Guard(env, () => Conductor.Cli.Store.StoreCommands.MigrateAsync(env, result.GetValue(migrateStore)!, token)));
        return new Command("store", "The delivery store's schema: status and migration as a deploy step.") { status, migrate };
    }

    private static Command SchemaCommand(CliEnvironment env)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write the schema to this file instead of standard output." };
        var command = new Command("schema", "Print the JSON Schema of ensemble YAML files, for editors (# yaml-language-server: $schema=...).") { output };
        command.SetAction((result, _) => Guard(env, async () =>
        {
            var schema = Schema.EnsembleJsonSchema.Generate();
            if (result.GetValue(output) is { } path)
            {
                try
                {
                    await File.WriteAllTextAsync(path, schema).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new CliUsageException($"Cannot write '{path}': {ex.Message}");
                }
            }
            else
            {
                await env.Out.WriteAsync(schema).ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Validate(CliEnvironment env)
    {
        var paths = new Argument<string[]>("paths") { Description = "Ensemble files, or folders to search (ensembles/**/*.yaml and **/*.ensemble.yaml).", Arity = ArgumentArity.OneOrMore };
        var warnAsError = new Option<bool>("--warnaserror") { Description = "Report warnings as errors (exit code 1 when there are any)." };
        var command = new Command("validate", "Report the build's CND diagnostics for ensemble files, as path(line,col): severity CNDxxxx: message.") { paths, warnAsError };
        command.SetAction((result, _) => Guard(env, () => Task.FromResult(ValidateCommand.Run(env, result.GetValue(paths) ?? [], result.GetValue(warnAsError)))));
        return command;
    }

    private static Command Render(CliEnvironment env)
    {
        var file = new Argument<string>("file") { Description = "The ensemble file." };
        var eventName = new Option<string>("--event") { Description = "The event to render, e.g. execution.completed.", Required = true };
        var data = new Option<string?>("--data") { Description = "The event's data object as JSON; missing fields get preview values." };
        var environment = new Option<string[]>("--env") { Description = "NAME=VALUE for a ${env.NAME} binding; repeat for several. Secret values are masked in the output.", AllowMultipleArgumentsPerToken = false };
        var command = new Command("render", "Print what each notification subscribed to an event would send: the exact webhook request (headers, signature, body) or the rendered message fields.") { file, eventName, data, environment };
        command.SetAction((result, _) => Guard(env, () => Task.FromResult(RenderCommand.Run(
            env, result.GetValue(file)!, result.GetValue(eventName)!, result.GetValue(data), result.GetValue(environment) ?? []))));
        return command;
    }

    private static Command Verify(CliEnvironment env)
    {
        var secret = new Option<string[]>("--secret") { Description = $"The signing secret (repeat to try several; whsec_... for standard-webhooks). Defaults to ${VerifyCommand.SecretVariable}." };
        var timestamp = new Option<string>("--timestamp") { Description = "X-Conductor-Timestamp / webhook-timestamp: Unix seconds.", Required = true };
        var signature = new Option<string>("--signature") { Description = "X-Conductor-Signature (sha256=<hex>) or webhook-signature (v1,<base64> ...).", Required = true };
        var body = new Option<string>("--body") { Description = "The raw body as received, or @path to read its bytes from a file.", Required = true };
        var format = new Option<string>("--format") { Description = "conductor (default) or standard-webhooks.", DefaultValueFactory = _ => "conductor" };
        var id = new Option<string?>("--id") { Description = "The webhook-id header (standard-webhooks only)." };
        var tolerance = new Option<string?>("--tolerance") { Description = "Reject timestamps further than this from now (e.g. 300s). Default: unlimited, for checking recorded requests offline." };
        var command = new Command("verify", "Check a webhook signature: exit code 0 when valid, 1 when invalid (with the reason).") { secret, timestamp, signature, body, format, id, tolerance };
        command.SetAction((result, _) => Guard(env, () => Task.FromResult(VerifyCommand.Run(
            env, result.GetValue(secret) ?? [], result.GetValue(timestamp)!, result.GetValue(signature)!, result.GetValue(body)!,
            result.GetValue(format) ?? "conductor", result.GetValue(id), result.GetValue(tolerance)))));
        return command;
    }

    private static Command Deliveries(CliEnvironment env)
    {
        var listStore = StoreOption();
        var listStatus = new Option<string?>("--status") { Description = "pending, delivered or dead-lettered." };
        var listEnsemble = new Option<string?>("--ensemble") { Description = "Only this ensemble's deliveries." };
        var limit = new Option<int>("--limit") { Description = "At most this many, newest first (default 50).", DefaultValueFactory = _ => 50 };
        var keepDelivered = new Option<string>("--retention-delivered") { Description = "The application's Conductor:Retention:Delivered, to show when deliveries expire (default 7d; 'infinite' to keep).", DefaultValueFactory = _ => "7d" };
        var keepDead = new Option<string>("--retention-dead-lettered") { Description = "The application's Conductor:Retention:DeadLettered (default 30d; 'infinite' to keep).", DefaultValueFactory = _ => "30d" };
        var list = new Command("list", "List stored deliveries, newest first, with when each finished one expires.") { listStore, listStatus, listEnsemble, limit, keepDelivered, keepDead };
        list.SetAction((result, token) => Guard(env, () => DeliveriesCommands.ListAsync(
            env, result.GetValue(listStore)!, result.GetValue(listStatus), result.GetValue(listEnsemble), result.GetValue(limit),
            DeliveriesCommands.Retention(result.GetValue(keepDelivered)!, result.GetValue(keepDead)!), token)));

        var replayStore = StoreOption();
        var ids = new Argument<string[]>("ids") { Description = "Delivery ids (dlv_...).", Arity = ArgumentArity.ZeroOrMore };
        var all = new Option<bool>("--all-dead-lettered") { Description = "Replay every dead-lettered delivery." };
        var replayEnsemble = new Option<string?>("--ensemble") { Description = "With --all-dead-lettered: only this ensemble's." };
        var replay = new Command("replay", "Make dead-lettered deliveries pending again, due now, with a fresh retry budget.") { replayStore, ids, all, replayEnsemble };
        replay.SetAction((result, token) => Guard(env, () => DeliveriesCommands.ReplayAsync(
            env, result.GetValue(replayStore)!, result.GetValue(ids) ?? [], result.GetValue(all), result.GetValue(replayEnsemble), token)));

        var purgeStore = StoreOption();
        var olderThan = new Option<string>("--older-than") { Description = "Delete deliveries finished (delivered or dead-lettered) longer ago than this (e.g. 30d, 12h).", Required = true };
        var purgeStatus = new Option<string?>("--status") { Description = "Only delivered or only dead-lettered (default both; pending ones are never purged)." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation." };
        var purge = new Command("purge", "Delete old delivered and dead-lettered deliveries and their attempt logs now, in short batches (the same code as retention).") { purgeStore, olderThan, purgeStatus, yes };
        purge.SetAction((result, token) => Guard(env, () => DeliveriesCommands.PurgeAsync(
            env, result.GetValue(purgeStore)!, result.GetValue(olderThan)!, result.GetValue(purgeStatus), result.GetValue(yes), token)));

        return new Command("deliveries", "Inspect and operate the delivery store.") { list, replay, purge };
    }
}
