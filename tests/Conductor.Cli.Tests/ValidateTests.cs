namespace Conductor.Cli.Tests;

public sealed class ValidateTests
{
    private const string Good = """
        name: order-events
        notifications:
          - type: webhook
            url: https://hooks.example.com/orders
            events: [execution.completed, execution.failed]
            secret: ${env.WEBHOOK_SECRET}
        """;

    private const string Bad = """
        name: billing
        notifications:
          - type: webhook
            url: https://hooks.example.com/billing
            events: [execution.complete]
            retries: 9
        """;

    [Fact]
    public async Task A_valid_file_exits_0_with_a_summary_and_no_diagnostics()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/orders.yaml", Good);

        var result = await CliRun.RunAsync("validate", file);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("1 file checked: 0 errors, 0 warnings, 0 info.\n", result.Out);
        Assert.Equal(string.Empty, result.Error);
    }

    [Fact]
    public async Task Errors_and_warnings_are_printed_in_msbuild_format_with_line_and_column_and_exit_1()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/billing.yaml", Bad);

        var result = await CliRun.RunAsync("validate", file);

        Assert.Equal(1, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[]
        {
            $"{file}(3,11): warning CND0005: webhook notification #1 has no 'secret', so it is sent unsigned and receivers cannot verify it; add secret: ${{env.WEBHOOK_SECRET}}",
            $"{file}(5,14): error CND0004: unknown event 'execution.complete'; did you mean 'execution.completed'?",
            $"{file}(6,14): error CND0011: 'retries' (retries after the first attempt) is 9; it must be between 0 and 5",
            "1 file checked: 2 errors, 1 warning, 0 info.",
        }, lines);
    }

    [Fact]
    public async Task Declared_shapes_are_checked_as_the_build_checks_them()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/shipping.yaml", """
            name: shipping
            input:
              orderId: string
              priority: [low, high]
            flow:
              - agent: ship-order
                output:
                  trackingNumber: strng
              - agent: notify
                condition: ${input.priority == 'urgent'}
            outputs:
              orderId: ${input.orderID}
              notified: ${notify.output.sent}
            """);

        var result = await CliRun.RunAsync("validate", file);

        Assert.Equal(1, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[]
        {
            $"{file}(8,23): error CND0019: unknown type 'strng' in field 'trackingNumber' of the 'output' of flow step 'ship-order'; did you mean 'string'? (types are string, int, long, number, decimal, bool, datetime, json, a mapping of fields, [T] for a list or [a, b, c] for a set of strings)",
            $"{file}(10,18): error CND0017: the condition of flow step 'notify' compares 'input.priority' (one of [low, high]) with the string 'urgent': 'urgent' is not one of its values [low, high], so this is never equal",
            $"{file}(12,20): error CND0016: 'input' has no field 'orderID'; did you mean 'orderId'? (fields: orderId, priority)",
            $"{file}(13,15): warning CND0018: 'notify.output.sent' reads the output of step 'notify', whose shape is not declared, so the build cannot check it and a typo would render empty; declare it with 'output:' on step 'notify', for example output: {{sent: string}} (types: docs/types.md)",
            "1 file checked: 3 errors, 1 warning, 0 info.",
        }, lines);
    }

    [Fact]
    public async Task A_warning_alone_exits_0_and_fails_with_warnaserror()
    {
        using var folder = new TempFolder();
        var file = folder.Write("alerts.ensemble.yaml", """
            name: alerts
            notifications:
              - type: webhook
                url: https://hooks.example.com/alerts
                events: [execution.failed]
            """);

        var lenient = await CliRun.RunAsync("validate", file);
        var strict = await CliRun.RunAsync("validate", file, "--warnaserror");

        Assert.Equal(0, lenient.ExitCode);
        Assert.StartsWith($"{file}(3,11): warning CND0005: ", lenient.Out);
        Assert.Equal(1, strict.ExitCode);
        Assert.StartsWith($"{file}(3,11): error CND0005: ", strict.Out);
        Assert.EndsWith("1 file checked: 1 error, 0 warnings, 0 info.\n", strict.Out);
    }

    [Fact]
    public async Task A_folder_is_searched_like_the_build_and_duplicate_names_across_files_are_CND0012()
    {
        using var folder = new TempFolder();
        var first = folder.Write("ensembles/orders.yaml", Good);
        var second = folder.Write("more/orders-copy.ensemble.yaml", Good);
        folder.Write("config/settings.yaml", "not: an ensemble"); // neither under ensembles/ nor *.ensemble.yaml
        folder.Write("ensembles/bin/stale.yaml", "name: [broken");   // build output is skipped

        var result = await CliRun.RunAsync("validate", folder.Path);

        Assert.Equal(1, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains($"{first}(1,7): error CND0012: ensemble name 'order-events' is also used in {second}(1,7); ensemble names must be unique in a project — rename one of them", lines);
        Assert.Contains($"{second}(1,7): error CND0012: ensemble name 'order-events' is also used in {first}(1,7); ensemble names must be unique in a project — rename one of them", lines);
        Assert.Equal("2 files checked: 2 errors, 0 warnings, 0 info.", lines[^1]);
    }

    [Fact]
    public async Task A_yaml_syntax_error_is_located()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/broken.yaml", "name: broken\nnotifications: [\n");

        var result = await CliRun.RunAsync("validate", file);

        Assert.Equal(1, result.ExitCode);
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(file)}\(\d+,\d+\): error CND0001: ", result.Out);
    }

    [Fact]
    public async Task A_missing_path_is_a_usage_error_with_exit_2()
    {
        var result = await CliRun.RunAsync("validate", "/no/such/ensembles");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'/no/such/ensembles' is neither a file nor a folder", result.Error);
    }
}
