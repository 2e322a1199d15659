using Conductor.Sdk.Model;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Xunit;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>The model library on its own, as the CLI will use it: no Roslyn involved.</summary>
public sealed class ModelTests
{
    private static EnsembleParseResult Sample(string name) =>
        EnsembleParser.Parse(name, File.ReadAllText(Path.Combine(Infrastructure.GeneratorHarness.SampleDirectory, name)));

    [Fact]
    public void Payment_processing_is_read_into_typed_notifications_with_positions()
    {
        var result = Sample("payment-processing.yaml");
        var ensemble = Assert.IsType<EnsembleDefinition>(result.Ensemble);
        Assert.Equal("payment-processing", ensemble.Name.Value);
        Assert.Equal("PaymentProcessing", ensemble.TypeName);
        Assert.Equal((0, 6), (ensemble.Name.Span.StartLine, ensemble.Name.Span.StartColumn));
        Assert.Equal(4, ensemble.Notifications.Count);

        var webhook = Assert.IsType<WebhookNotification>(ensemble.Notifications[0]);
        Assert.Equal("https://internal.example.com/events", webhook.Url.Raw);
        Assert.Equal("INTERNAL_WEBHOOK_SECRET", webhook.Secret!.EnvironmentVariable);
        Assert.Equal(WebhookNotification.DefaultRetries, webhook.Retries);
        Assert.Equal(WebhookNotification.DefaultTimeoutMilliseconds, webhook.TimeoutMilliseconds);
        Assert.Equal(new[] { "execution.completed", "execution.failed" }, webhook.Events.Select(e => e.Value));

        var email = Assert.IsType<EmailNotification>(ensemble.Notifications[2]);
        Assert.Equal(new[] { "finance@example.com" }, email.To.Select(t => t.Raw));
        var parts = email.Subject.Parts;
        Assert.Equal("Payment ", Assert.IsType<LiteralPart>(parts[0]).Text);
        var binding = Assert.IsType<PathExpression>(Assert.IsType<ExpressionPart>(parts[1]).Expression);
        Assert.Equal("event", binding.Text);
        var data = Assert.IsType<PathExpression>(Assert.IsType<ExpressionPart>(parts[3]).Expression);
        Assert.Equal("data.orderId", data.Text);
        Assert.Equal(21, data.Span.StartLine);

        var step = Assert.Single(ensemble.Flow);
        Assert.Equal("process-payment", step.StepName);
        Assert.Equal("transactionId", Assert.Single(ensemble.Outputs).Key.Value);

        // The product description's own diagnostic, unchanged; and, since its agent declares no output, the binding
        // in outputs: is reported as unchecked (CND0018).
        Assert.Equal(new[] { "CND0010", "CND0018" }, result.Diagnostics.Select(d => d.Id));
        Assert.StartsWith("payment-processing.yaml(37,20): warning CND0018: 'process-payment.output.transactionId' reads the output of step 'process-payment'", result.Diagnostics[1].ToString());
        var warning = result.Diagnostics[0];
        Assert.Equal("CND0010", warning.Id);
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.StartsWith("payment-processing.yaml(22,35): warning CND0010: 'data.orderId' is not carried by execution.completed", warning.ToString());
        Assert.False(result.HasErrors);
    }

    [Fact]
    public void Conditions_parse_into_an_expression_tree()
    {
        var ensemble = Sample("server-health-check.yaml").Ensemble!;
        var alert = ensemble.Flow[1];
        Assert.Equal("sms", alert.Operation!.Value);
        var comparison = Assert.IsType<BinaryExpression>(alert.Condition!.SingleExpression);
        Assert.Equal(BinaryOperator.Equal, comparison.Operator);
        Assert.Equal("check-health.output.status", Assert.IsType<PathExpression>(comparison.Left).Text);
        var literal = Assert.IsType<LiteralExpression>(comparison.Right);
        Assert.Equal((LiteralKind.String, "critical"), (literal.Kind, literal.Value));
        Assert.Equal(new[] { "provider", "accountSid", "authToken", "from", "to", "body" }, alert.Config.Select(c => c.Key.Value));
    }

    [Fact]
    public void Operator_precedence_and_negation()
    {
        var template = TemplateParser.Parse("${!a.b || c == 1 && d != null}", out var errors);
        Assert.Empty(errors);
        var or = Assert.IsType<BinaryExpression>(template.SingleExpression);
        Assert.Equal(BinaryOperator.Or, or.Operator);
        Assert.IsType<UnaryExpression>(or.Left);
        var and = Assert.IsType<BinaryExpression>(or.Right);
        Assert.Equal(BinaryOperator.And, and.Operator);
        Assert.Equal(BinaryOperator.NotEqual, Assert.IsType<BinaryExpression>(and.Right).Operator);
    }

    [Theory]
    [InlineData("${a ==}", "expression ends too early")]
    [InlineData("${a == b == c}", "cannot be chained")]
    [InlineData("${(a}", "missing ')'")]
    [InlineData("${'open}", "unterminated '${'")]
    [InlineData("${a = b}", "use '==' to compare")]
    [InlineData("${}", "empty binding")]
    [InlineData("${items[x]}", "index in brackets")]
    public void Template_errors_are_reported_with_a_reason(string text, string reason)
    {
        TemplateParser.Parse(text, out var errors);
        Assert.Contains(reason, Assert.Single(errors).Message);
    }

    [Fact]
    public void Anchors_aliases_and_merge_keys_are_accepted()
    {
        var yaml = """
            name: anchors
            notifications:
              - &base
                type: webhook
                url: https://api.example.com/a
                events: [execution.failed]
                secret: ${env.A}
              - <<: *base
                url: https://api.example.com/b
            """;
        var result = EnsembleParser.Parse("anchors.yaml", yaml);
        Assert.Empty(result.Diagnostics);
        var urls = result.Ensemble!.Notifications.Cast<WebhookNotification>().Select(w => w.Url.Raw);
        Assert.Equal(new[] { "https://api.example.com/a", "https://api.example.com/b" }, urls);
    }

    [Fact]
    public void Step_order_and_scope_rules()
    {
        var yaml = """
            name: steps
            notifications:
              - type: sms
                to: ["+14155550100"]
                body: "${previous.output.x}"
                events: [execution.failed]
            flow:
              - name: first
                operation: sms
                condition: ${second.output.ok}
                config: {to: "+14155550100", body: "${event}"}
              - agent: second
            outputs:
              ok: ${second.executed}
            """;
        var messages = EnsembleParser.Parse("steps.yaml", yaml).Diagnostics.Select(d => (d.Id, d.Message)).ToList();
        Assert.Contains(messages, m => m.Id == "CND0010" && m.Message.Contains("'previous' is only available in flow steps"));
        Assert.Contains(messages, m => m.Id == "CND0010" && m.Message.Contains("step 'second' runs after it"));
        Assert.Contains(messages, m => m.Id == "CND0010" && m.Message.Contains("'event' is only available in notifications"));
        Assert.Equal(3, messages.Count);
    }

    [Fact]
    public void Push_notifications_validate_targets_per_provider()
    {
        var yaml = """
            name: push
            input: {userId: string, subscription: json, orderId: string, deviceToken?: string}
            notifications:
              - type: push
                provider: firebase
                topic: ${input.userId}
                token: abc
                title: "Order Shipped!"
                events: [execution.completed]
              - type: push
                provider: apns
                title: hi
                events: [execution.completed]
              - type: push
                provider: webpush
                subscription: ${input.subscription}
                deviceToken: x
                body: "Your order #${input.orderId} is on its way."
                image: https://cdn.example.com/box.png
                actions: [{id: view, title: View order}]
                events: [execution.completed]
            """;
        var diagnostics = EnsembleParser.Parse("push.yaml", yaml).Diagnostics;
        Assert.Contains(diagnostics, d => d.Id == "CND0011" && d.Message.Contains("token and topic"));
        Assert.Contains(diagnostics, d => d.Id == "CND0002" && d.Message.Contains("'deviceToken'"));
        Assert.Contains(diagnostics, d => d.Id == "CND0013" && d.Message.Contains("'deviceToken' is not used by the webpush provider"));
        Assert.Equal(3, diagnostics.Count);
    }

    [Theory]
    [InlineData("secret: \"\"", "CND0005", "has an empty 'secret'")]
    [InlineData("secret: ${input.secret}", "CND0010", "'input.secret' changes with every event, but the url, secret or headers of webhook notification #1 are set once at start-up")]
    [InlineData("secret: whsec_${env.X}", "CND0006", "written partly as a literal; anyone who can read this file can forge signatures")]
    public void Secret_rules(string secretLine, string id, string message)
    {
        var yaml = $"name: s\nnotifications:\n  - type: webhook\n    url: https://a.example.com/\n    events: [execution.failed]\n    {secretLine}\n";
        var diagnostic = Assert.Single(EnsembleParser.Parse("s.yaml", yaml).Diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Contains(message, diagnostic.Message);
    }

    [Theory]
    [InlineData("name: [orders]\n", "CND0011")]
    [InlineData("name: orders\nnotifications:\n  - type: [webhook]\n    events: [execution.failed]\n", "CND0011")]
    [InlineData("name: orders\nnotifications:\n  - type: email\n    to: [a@example.com]\n    events: {a: b}\n", "CND0011")]
    public void One_mistake_is_reported_once(string yaml, string id)
    {
        Assert.Equal(id, Assert.Single(EnsembleParser.Parse("o.yaml", yaml).Diagnostics).Id);
    }

    [Fact]
    public void Messages_suggest_typos_and_accept_display_names()
    {
        var yaml = """
            name: orders
            notifications:
              - type: email
                to: ["Ops Team <ops@example.com>"]
                subject: "took ${data.duraton} ms"
                events: [execution.completed]
              - type: webhook
                url: http://${env.HOOK_HOST}/hooks
                secret: ${env.S}
                events: [execution.completed]
            """;
        var diagnostic = Assert.Single(EnsembleParser.Parse("o.yaml", yaml).Diagnostics);
        Assert.Equal("CND0010", diagnostic.Id);
        Assert.EndsWith("did you mean 'data.duration'?", diagnostic.Message);
    }

    [Fact]
    public void Diagnostics_render_in_the_form_editors_parse()
    {
        var diagnostic = new EnsembleDiagnostic("CND0005", Severity.Warning, "message", "ensembles/a.yaml", new SourceSpan(10, 7, 2, 10, 2, 17));
        Assert.Equal("ensembles/a.yaml(3,11): warning CND0005: message", diagnostic.ToString());
    }

    [Fact]
    public void Catalogue_descriptors_release_notes_and_docs_agree()
    {
        var root = FindRepoRoot();
        var shipped = File.ReadAllText(Path.Combine(root, "generators/Conductor.Sdk.Generators/AnalyzerReleases.Shipped.md"))
            + File.ReadAllText(Path.Combine(root, "generators/Conductor.Sdk.Generators/AnalyzerReleases.Unshipped.md"));
        Assert.Equal(19, DiagnosticCatalog.All.Count);
        foreach (var rule in DiagnosticCatalog.All)
        {
            var descriptor = DiagnosticDescriptors.ById[rule.Id];
            Assert.Equal(rule.Title, descriptor.Title.ToString());
            Assert.Equal(rule.DefaultSeverity.ToString(), descriptor.DefaultSeverity == Microsoft.CodeAnalysis.DiagnosticSeverity.Info ? "Info" : descriptor.DefaultSeverity.ToString());
            Assert.Contains($"{rule.Id} | Conductor.Ensembles | {descriptor.DefaultSeverity}", shipped);
            Assert.True(File.Exists(Path.Combine(root, "docs/diagnostics", rule.Id + ".md")), $"docs/diagnostics/{rule.Id}.md is missing");
        }
    }

    internal static string FindRepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Conductor.Sdk.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("Conductor.Sdk.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void An_email_operation_takes_lists_for_to_cc_and_bcc_and_checks_each_address_where_it_is_written()
    {
        var yaml = """
            name: digest
            input:
              lead: string
            flow:
              - name: mail
                operation: email
                config:
                  to: [ops@example.com, "${input.lead}"]
                  cc: [not-an-address]
                  bcc: []
                  subject: digest
                  text: weekly
              - name: text
                operation: sms
                config: {to: ["+14155550100", "555-0100"], body: hi}
            """;
        var result = EnsembleParser.Parse("digest.yaml", yaml);
        var to = result.Ensemble!.Flow[0].Config.Single(c => c.Key.Value == "to").Value;
        Assert.Equal("ops@example.com, ${input.lead}", to.Raw);
        Assert.Equal(3, to.Parts.Count);
        var messages = result.Diagnostics.Select(d => (d.Id, d.Message, Line: d.Span.DisplayLine)).ToList();
        Assert.Contains(messages, m => m.Message.Contains("config.cc") && m.Message.Contains("not-an-address") && m.Line == 9);
        Assert.Contains(messages, m => m.Message == "'config.bcc' is an empty list; give at least one address" && m.Line == 10);
        Assert.Contains(messages, m => m.Message.Contains("config.to") && m.Message.Contains("555-0100") && m.Line == 15);
        Assert.Equal(3, messages.Count);
    }
}
