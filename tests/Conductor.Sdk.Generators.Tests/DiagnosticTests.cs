using Conductor.Sdk.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// Every CND id: a failing YAML reports exactly the expected id, severity and line/column span through
/// the Roslyn generator test harness, and the fixed YAML reports nothing.
/// </summary>
public sealed class DiagnosticTests
{
    private const string Valid = """
        name: orders
        notifications:
          - type: webhook
            url: https://api.example.com/hooks
            events: [execution.failed]
            secret: ${env.WEBHOOK_SECRET}
        """;

    internal static DiagnosticResult Expect(string id, DiagnosticSeverity severity, int line, int column, int endLine, int endColumn) =>
        new DiagnosticResult(id, severity).WithSpan(GeneratorVerifier.EnsemblePath, line, column, endLine, endColumn);

    [Fact]
    public Task Valid_ensemble_reports_nothing() => GeneratorVerifier.VerifyAsync(Valid);

    [Fact]
    public Task CND0001_yaml_syntax_error_is_located() => GeneratorVerifier.VerifyAsync(
        "name: orders\nnotifications: [\n  {type: webhook\n",
        Expect("CND0001", DiagnosticSeverity.Error, 4, 1, 4, 1).WithMessage(
            "YAML syntax error: While parsing a flow mapping, did not find expected ',' or '}'"));

    [Fact]
    public Task CND0001_duplicate_key_is_located_on_the_second_key() => GeneratorVerifier.VerifyAsync(
        "name: orders\nname: orders-2\n",
        Expect("CND0001", DiagnosticSeverity.Error, 2, 1, 2, 5)
            .WithMessage("duplicate key 'name'; YAML keeps only one of them — remove or rename the other"));

    [Fact]
    public Task CND0001_unquoted_binding_in_a_flow_list_explains_the_quoting_rule() => GeneratorVerifier.VerifyAsync(
        """
        name: orders
        notifications:
          - type: email
            to: [finance@example.com, ${env.ONCALL_EMAIL}]
            events: [execution.failed]
        """,
        Expect("CND0001", DiagnosticSeverity.Error, 4, 32, 4, 32).WithMessage(
            "YAML syntax error: While parsing a flow sequence, did not find expected ',' or ']'; a ${...} binding inside [ ] or { } must be quoted, as in [\"${env.NAME}\"]"));

    [Fact]
    public Task CND0002_missing_url_points_at_the_notification() => GeneratorVerifier.VerifyAsync(
        """
        name: orders
        notifications:
          - type: webhook
            events: [execution.failed]
            secret: ${env.WEBHOOK_SECRET}
        """,
        Expect("CND0002", DiagnosticSeverity.Error, 3, 5, 3, 9)
            .WithMessage("webhook notification #1 has no 'url'; add the address to POST to, for example url: https://api.example.com/webhooks"));

    [Fact]
    public Task CND0002_missing_name() => GeneratorVerifier.VerifyAsync(
        "description: no name here\n",
        Expect("CND0002", DiagnosticSeverity.Error, 1, 1, 1, 12));

    [Fact]
    public Task CND0003_unknown_type_suggests_the_closest() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("type: webhook", "type: webhok"),
        Expect("CND0003", DiagnosticSeverity.Error, 3, 11, 3, 17)
            .WithMessage("unknown notification type 'webhok'; did you mean 'webhook'? (known types: webhook, email, sms, push)"));

    [Fact]
    public Task CND0004_unknown_event_suggests_the_closest() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("[execution.failed]", "[execution.finished]"),
        Expect("CND0004", DiagnosticSeverity.Error, 5, 14, 5, 32)
            .WithMessage("unknown event 'execution.finished'; did you mean 'execution.failed'?"));

    [Fact]
    public Task CND0005_webhook_without_secret_is_a_warning_on_its_type() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("    secret: ${env.WEBHOOK_SECRET}", string.Empty).TrimEnd(),
        Expect("CND0005", DiagnosticSeverity.Warning, 3, 11, 3, 18));

    [Fact]
    public async Task CND0006_literal_secret_is_a_warning_that_does_not_repeat_the_secret()
    {
        var test = new GeneratorVerifier();
        test.TestState.AdditionalFiles.Add((GeneratorVerifier.EnsemblePath, Valid.Replace("${env.WEBHOOK_SECRET}", "hunter2-literal")));
        test.ExpectedDiagnostics.Add(Expect("CND0006", DiagnosticSeverity.Warning, 6, 13, 6, 28)
            .WithMessage("webhook notification #1 has its secret written as a literal; anyone who can read this file can forge signatures — write secret: ${env.WEBHOOK_SECRET} and set the value in configuration"));
        await test.RunAsync();
    }

    [Fact]
    public Task CND0006_a_literal_credential_in_an_operation_step_is_a_warning_and_is_not_compiled() => GeneratorVerifier.VerifyAsync(
        "name: alerts\nflow:\n  - agent: check\n  - name: page\n    operation: sms\n    config:\n      to: \"+14155550100\"\n      body: down\n      authToken: tw-literal-token\n",
        Expect("CND0006", DiagnosticSeverity.Warning, 9, 18, 9, 34)
            .WithMessage("'authToken' in the config of flow step 'page' is written as a literal; anyone who can read this file has the credential, and it is ignored (the provider's configured credentials are used) — write authToken: ${env.NAME} and set the value in configuration"));

    [Fact]
    public Task CND0007_invalid_url_is_an_error() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("https://api.example.com/hooks", "ftp://api.example.com/hooks"),
        Expect("CND0007", DiagnosticSeverity.Error, 4, 10, 4, 37));

    [Fact]
    public Task CND0007_plain_http_to_a_public_host_is_a_warning() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("https://api.example.com/hooks", "http://api.example.com/hooks"),
        Expect("CND0007", DiagnosticSeverity.Warning, 4, 10, 4, 38));

    [Fact]
    public Task CND0007_plain_http_to_loopback_is_accepted() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("https://api.example.com/hooks", "http://127.0.0.1:5080/hooks"));

    [Fact]
    public Task CND0008_invalid_email_and_phone() => GeneratorVerifier.VerifyAsync(
        """
        name: orders
        notifications:
          - type: email
            to: [finance@, "${env.ONCALL_EMAIL}"]
            events: [execution.failed]
          - type: sms
            to: ["0044 20 7946 0000"]
            events: [execution.failed]
        """,
        Expect("CND0008", DiagnosticSeverity.Error, 4, 10, 4, 18),
        Expect("CND0008", DiagnosticSeverity.Error, 7, 11, 7, 28));

    [Fact]
    public Task CND0008_fixed() => GeneratorVerifier.VerifyAsync(
        """
        name: orders
        notifications:
          - type: email
            to: [finance@example.com, "Ops <ops@example.com>", "${env.ONCALL_EMAIL}"]
            events: [execution.failed]
          - type: sms
            to: ["+442079460000"]
            events: [execution.failed]
        """);

    [Fact]
    public Task CND0009_unterminated_binding_is_located_inside_the_value() => GeneratorVerifier.VerifyAsync(
        """
        name: orders
        notifications:
          - type: email
            to: [finance@example.com]
            subject: "Payment ${event"
            events: [execution.failed]
        """,
        Expect("CND0009", DiagnosticSeverity.Error, 5, 23, 5, 30)
            .WithMessage("in 'subject': unterminated '${' in template; close the binding with '}'"));

    [Fact]
    public Task CND0009_bad_condition_expression() => GeneratorVerifier.VerifyAsync(
        """
        name: health
        flow:
          - agent: check-health
          - name: alert
            condition: ${check-health.output.status = 'critical'}
            operation: sms
            config: {to: "+14155550100", body: "critical"}
        """,
        Expect("CND0009", DiagnosticSeverity.Error, 5, 45, 5, 46)
            .WithMessage("in 'condition': unexpected character '=' in binding (use '==' to compare)"));

    [Fact]
    public Task CND0010_unknown_root_is_an_error_and_missing_data_field_a_warning() => GeneratorVerifier.VerifyAsync(
        """
        name: payments
        notifications:
          - type: email
            to: [finance@example.com]
            subject: "Payment ${event}: ${data.orderId} ${proces-payment.output.id}"
            events: [execution.completed]
        flow:
          - agent: process-payment
            output: {transactionId: string}
        outputs:
          transactionId: ${process-payment.output.transactionId}
        """,
        Expect("CND0010", DiagnosticSeverity.Warning, 5, 35, 5, 47)
            .WithMessage("'data.orderId' is not carried by execution.completed and renders empty for it (execution.completed carries ensemble, id, status, output, duration); values computed by the ensemble are under data.output.<key> (outputs: transactionId)"),
        Expect("CND0010", DiagnosticSeverity.Error, 5, 51, 5, 75));

    [Fact]
    public Task CND0010_fixed() => GeneratorVerifier.VerifyAsync(
        """
        name: payments
        notifications:
          - type: email
            to: [finance@example.com]
            subject: "Payment ${event}: ${data.output.transactionId} ${data.id}"
            events: [execution.completed]
        flow:
          - agent: process-payment
            output: {transactionId: string}
        outputs:
          transactionId: ${process-payment.output.transactionId}
        """);

    [Fact]
    public Task CND0011_retries_out_of_range() => GeneratorVerifier.VerifyAsync(
        Valid + "\n    retries: 9",
        Expect("CND0011", DiagnosticSeverity.Error, 7, 14, 7, 15)
            .WithMessage("'retries' (retries after the first attempt) is 9; it must be between 0 and 5"));

    [Fact]
    public Task CND0011_fixed() => GeneratorVerifier.VerifyAsync(Valid + "\n    retries: 5\n    timeout: 60000");

    [Fact]
    public Task CND0011_rate_limit_that_is_not_count_per_unit() => GeneratorVerifier.VerifyAsync(
        Valid + "\n    rate-limit: fast",
        Expect("CND0011", DiagnosticSeverity.Error, 7, 17, 7, 21)
            .WithMessage("webhook notification #1 has rate-limit 'fast', which is not <count>/<unit>; write for example rate-limit: 50/s (units: s, min, h)"));

    [Fact]
    public Task CND0011_rate_limit_count_out_of_range() => GeneratorVerifier.VerifyAsync(
        Valid + "\n    rate-limit: 0/min",
        Expect("CND0011", DiagnosticSeverity.Error, 7, 17, 7, 22)
            .WithMessage("webhook notification #1 has rate-limit 0/min; the count must be between 1 and 10000"));

    [Fact]
    public Task CND0011_rate_limit_fixed() => GeneratorVerifier.VerifyAsync(Valid + "\n    rate-limit: 50/s");

    [Fact]
    public Task CND0004_misspelt_operational_event_suggests_it() => GeneratorVerifier.VerifyAsync(
        """
        name: ops
        notifications:
          - type: email
            to: [ops@example.com]
            from: conductor@example.com
            events: [endpoint.disabld]
        """,
        Expect("CND0004", DiagnosticSeverity.Error, 6, 14, 6, 30)
            .WithMessage("unknown event 'endpoint.disabld'; did you mean 'endpoint.disabled'?"));

    [Fact]
    public Task Operational_events_are_subscribed_to_and_their_data_is_checked() => GeneratorVerifier.VerifyAsync(
        """
        name: ops
        notifications:
          - type: email
            to: [ops@example.com]
            from: conductor@example.com
            subject: "${event}: ${data.endpoint} (${data.reason}, since ${data.since})"
            events: [endpoint.disabled]
          - type: email
            to: [ops@example.com]
            from: conductor@example.com
            subject: "Dead letter ${data.deliveryId} of ${data.sourceEnsemble}: ${data.reasn}"
            events: [delivery.dead-lettered]
        """,
        Expect("CND0010", DiagnosticSeverity.Warning, 11, 75, 11, 85).WithMessage(
            "'data.reasn' is not carried by delivery.dead-lettered and renders empty for it (delivery.dead-lettered carries ensemble, endpoint, deliveryId, sourceEnsemble, event, notification, channel, attempts, statusCode, lastError)"));

    [Fact]
    public async Task CND0012_duplicate_names_across_files_are_reported_on_both()
    {
        var test = new GeneratorVerifier();
        test.TestState.AdditionalFiles.Add(("/0/ensembles/a.yaml", Valid));
        test.TestState.AdditionalFiles.Add(("/0/ensembles/b.yaml", Valid));
        test.ExpectedDiagnostics.Add(new DiagnosticResult("CND0012", DiagnosticSeverity.Error).WithSpan("/0/ensembles/a.yaml", 1, 7, 1, 13)
            .WithMessage("ensemble name 'orders' is also used in /0/ensembles/b.yaml(1,7); ensemble names must be unique in a project — rename one of them"));
        test.ExpectedDiagnostics.Add(new DiagnosticResult("CND0012", DiagnosticSeverity.Error).WithSpan("/0/ensembles/b.yaml", 1, 7, 1, 13));
        await test.RunAsync();
    }

    [Fact]
    public async Task CND0012_fixed()
    {
        var test = new GeneratorVerifier();
        test.TestState.AdditionalFiles.Add(("/0/ensembles/a.yaml", Valid));
        test.TestState.AdditionalFiles.Add(("/0/ensembles/b.yaml", Valid.Replace("name: orders", "name: invoices")));
        await test.RunAsync();
    }

    [Fact]
    public Task CND0013_unknown_key_suggests_the_closest() => GeneratorVerifier.VerifyAsync(
        Valid + "\n    retires: 3",
        Expect("CND0013", DiagnosticSeverity.Warning, 7, 5, 7, 12)
            .WithMessage("unknown key 'retires' in webhook notification #1 is ignored; did you mean 'retries'?"));

    [Fact]
    public Task CND0014_subscribing_to_every_event_is_info() => GeneratorVerifier.VerifyAsync(
        Valid.Replace("[execution.failed]", "[execution.started, execution.completed, execution.failed, execution.timeout, agent.completed, state.updated]"),
        Expect("CND0014", DiagnosticSeverity.Info, 5, 13, 5, 122));
}
