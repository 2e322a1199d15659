using System.Text;
using System.Text.RegularExpressions;
using Conductor.Sdk.Webhooks;

namespace Conductor.Cli.Tests;

public sealed class RenderTests
{
    private const string Secret = "s3cr3t-signing-value";
    private const string HookToken = "tok-4f9a8b7c";

    private const string Ensemble = """
        name: order-events
        notifications:
          - type: webhook
            url: https://hooks.example.com/orders?token=${env.HOOK_TOKEN}&team=ops
            events: [execution.completed]
            secret: ${env.WEBHOOK_SECRET}
            headers: {X-Team: payments}
          - type: email
            to: [ops@example.com]
            from: conductor@example.com
            subject: "Order ${data.output.orderId} ${event} in ${data.duration} ms"
            events: [execution.completed]
          - type: sms
            to: ["+15551234567"]
            from: "+15557654321"
            body: "[${event}] ${ensemble.name} ${data.output.orderId == 'A-1'}"
            events: [execution.completed]
          - type: webhook
            url: https://hooks.example.com/failures
            events: [execution.failed]
            secret: ${env.WEBHOOK_SECRET}
        outputs:
          orderId: ${input.orderId}
        """;

    private const string Data = """{"id":"exec-9","output":{"orderId":"A-1"},"duration":1234}""";

    // The fake clock of CliRun: 2024-01-15T10:30:15Z.
    private const string ExpectedBody = """{"event":"execution.completed","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"order-events","id":"exec-9","status":"completed","output":{"orderId":"A-1"},"duration":1234}}""";

    [Fact]
    public async Task A_webhook_is_rendered_as_the_exact_request_with_a_signature_for_the_printed_timestamp_and_body()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/orders.yaml", Ensemble);

        var result = await CliRun.RunAsync("render", file, "--event", "execution.completed", "--data", Data,
            "--env", "WEBHOOK_SECRET=" + Secret, "--env", "HOOK_TOKEN=" + HookToken);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(string.Empty, result.Error);
        var lines = result.Out.Split('\n');
        var start = Array.IndexOf(lines, "== webhook notification #1 (format conductor, retries 3, timeout 5000 ms) ==");
        Assert.True(start >= 0, result.Out);
        Assert.Equal("secret: **** (from ${env.WEBHOOK_SECRET})", lines[start + 1]);
        Assert.Equal("POST https://hooks.example.com/orders?token=****&team=ops", lines[start + 2]);
        Assert.Equal("User-Agent: Conductor.Sdk/0.1.0", lines[start + 3]);
        Assert.Equal("X-Team: payments", lines[start + 4]);
        Assert.Equal("X-Conductor-Event: execution.completed", lines[start + 5]);
        Assert.Equal("X-Conductor-Delivery-Attempt: 1", lines[start + 6]);
        Assert.Equal("X-Conductor-Timestamp: 1705314615", lines[start + 7]);
        Assert.Matches("^X-Conductor-Delivery-Id: dlv_[0-9a-f]{32}$", lines[start + 8]);
        Assert.StartsWith("X-Conductor-Signature: sha256=", lines[start + 9]);
        Assert.Equal("Content-Type: application/json", lines[start + 10]);
        Assert.Equal(string.Empty, lines[start + 11]);
        Assert.Equal(ExpectedBody, lines[start + 12]);

        // The printed signature is the runtime signer's over the printed timestamp and body bytes.
        var timestamp = long.Parse(lines[start + 7]["X-Conductor-Timestamp: ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var signature = lines[start + 9]["X-Conductor-Signature: ".Length..];
        Assert.Equal(WebhookSigner.SignConductor(Secret, timestamp, Encoding.UTF8.GetBytes(lines[start + 12])), signature);

        // Secrets never appear; the notification for another event is not rendered.
        Assert.DoesNotContain(Secret, result.Out);
        Assert.DoesNotContain(HookToken, result.Out);
        Assert.DoesNotContain("failures", result.Out);
    }

    [Fact]
    public async Task Email_and_sms_fields_are_rendered_with_the_runtime_template_semantics()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/orders.yaml", Ensemble);

        var result = await CliRun.RunAsync("render", file, "--event", "execution.completed", "--data", Data,
            "--env", "WEBHOOK_SECRET=" + Secret, "--env", "HOOK_TOKEN=" + HookToken);

        Assert.Contains("\n== email notification #2 ==\nprovider: (the default provider from configuration)\nfrom: conductor@example.com\nto: ops@example.com\n"
            + "subject: Order A-1 execution.completed in 1234 ms\ntext part:\n{\n  \"event\": \"execution.completed\",", result.Out);
        Assert.Contains("\n== sms notification #3 ==\nprovider: (the default provider from configuration)\nfrom: +15557654321\nto: +15551234567\n"
            + "body (39 characters): [execution.completed] order-events true\n", result.Out);
    }

    [Fact]
    public async Task An_unset_secret_is_a_placeholder_and_a_warning_and_the_request_is_shown_unsigned()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/orders.yaml", Ensemble);

        var result = await CliRun.RunAsync("render", file, "--event", "execution.completed", "--data", Data);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("secret: <unset:WEBHOOK_SECRET> (from ${env.WEBHOOK_SECRET}; the request is shown unsigned)\n", result.Out);
        Assert.Contains("POST https://hooks.example.com/orders?token=****&team=ops\n", result.Out);
        Assert.DoesNotContain("X-Conductor-Signature", result.Out);
        Assert.Contains("warning: ${env.WEBHOOK_SECRET} is not set; it is shown as <unset:WEBHOOK_SECRET>.", result.Error);
        Assert.Contains("warning: ${env.HOOK_TOKEN} is not set;", result.Error);
    }

    [Fact]
    public async Task Missing_data_fields_get_preview_values_that_are_listed()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/orders.yaml", Ensemble);

        var result = await CliRun.RunAsync("render", file, "--event", "execution.failed", "--env", "WEBHOOK_SECRET=" + Secret, "--env", "HOOK_TOKEN=" + HookToken);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("""{"event":"execution.failed","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"order-events","id":"exec-preview","status":"failed","error":{"message":"preview error","type":"System.Exception"},"duration":0}}""", result.Out);
        Assert.Contains("warning: --data did not give id, error, duration; preview values are used", result.Error);
        Assert.DoesNotContain(Secret, result.Out);
    }

    [Fact]
    public async Task An_operational_event_is_previewed_with_its_own_data_fields()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/ops.yaml", """
            name: endpoint-ops
            notifications:
              - type: email
                to: [ops@example.com]
                from: conductor@example.com
                subject: "${event}: ${data.endpoint} is ${data.state} (${data.reason})"
                events: [endpoint.disabled]
            """);

        var result = await CliRun.RunAsync("render", file, "--event", "endpoint.disabled", "--data", """{"endpoint":"https://hooks.partner.example","reason":"410 Gone"}""");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("endpoint.disabled: https://hooks.partner.example is disabled (410 Gone)", result.Out);
    }

    [Fact]
    public async Task A_standard_webhooks_notification_carries_the_standard_headers_and_a_verifiable_signature()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/std.yaml", """
            name: std-hooks
            notifications:
              - type: webhook
                url: https://hooks.example.com/std
                events: [execution.timeout]
                secret: ${env.STD_SECRET}
                format: standard-webhooks
            """);
        const string StdSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

        var result = await CliRun.RunAsync("render", file, "--event", "execution.timeout", "--data", """{"id":"e-1","duration":31000,"timeout":30000}""", "--env", "STD_SECRET=" + StdSecret);

        Assert.Equal(0, result.ExitCode);
        var id = Regex.Match(result.Out, "\nwebhook-id: (dlv_[0-9a-f]{32})\n").Groups[1].Value;
        var signature = Regex.Match(result.Out, "\nwebhook-signature: (v1,[A-Za-z0-9+/=]+)\n").Groups[1].Value;
        Assert.Contains("\nwebhook-timestamp: 1705314615\n", result.Out);
        const string Body = """{"event":"execution.timeout","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"std-hooks","id":"e-1","duration":31000,"timeout":30000}}""";
        Assert.Contains("\n\n" + Body + "\n", result.Out);
        Assert.Equal(WebhookSigner.SignStandardWebhooks(StdSecret, id, 1705314615, Encoding.UTF8.GetBytes(Body)), signature);
        Assert.DoesNotContain(StdSecret, result.Out);
        Assert.DoesNotContain("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", result.Out);
    }

    [Fact]
    public async Task Literal_secrets_credential_headers_and_url_passwords_are_masked_and_a_literal_secret_never_signs()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/masked.yaml", """
            name: masked
            notifications:
              - type: webhook
                url: https://bot:${env.BASIC_PASSWORD}@hooks.example.com/in?api_key=${env.PLAIN}&team=ops
                events: [execution.completed]
                secret: literal-secret-in-yaml
                headers: {Authorization: "Bearer ${env.API_TOKEN}", X-Region: "${env.API_TOKEN}-eu"}
            """);

        var result = await CliRun.RunAsync("render", file, "--event", "execution.completed",
            "--env", "BASIC_PASSWORD=hunter2-pass", "--env", "PLAIN=plain-value-9", "--env", "API_TOKEN=tok-abcdef-123");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("secret: **** (written in the YAML, which the runtime never uses; the request is unsigned", result.Out);
        Assert.Contains("\nPOST https://bot:****@hooks.example.com/in?api_key=****&team=ops\n", result.Out);
        Assert.Contains("\nAuthorization: ****\n", result.Out);
        Assert.Contains("\nX-Region: ****-eu\n", result.Out);
        Assert.DoesNotContain("X-Conductor-Signature", result.Out);
        foreach (var secret in new[] { "literal-secret-in-yaml", "hunter2-pass", "plain-value-9", "tok-abcdef-123" })
        {
            Assert.DoesNotContain(secret, result.Out + result.Error);
        }
    }

    [Fact]
    public async Task A_file_with_errors_is_not_rendered()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/bad.yaml", "name: bad\nnotifications:\n  - type: webhook\n    url: https://x.example.com\n    events: [execution.complete]\n");

        var result = await CliRun.RunAsync("render", file, "--event", "execution.completed");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{file}(5,14): error CND0004:", result.Error);
        Assert.Equal(string.Empty, result.Out);
    }

    [Fact]
    public async Task An_unknown_event_is_a_usage_error()
    {
        using var folder = new TempFolder();
        var file = folder.Write("ensembles/orders.yaml", Ensemble);

        var result = await CliRun.RunAsync("render", file, "--event", "execution.done");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--event 'execution.done' is not a Conductor event; use one of: execution.started, execution.completed", result.Error);
    }
}
