using Conductor.Sdk.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// The rules of declared shapes (issue #16): each new diagnostic at its exact YAML line and column, with its
/// message, through the Roslyn generator test harness; the declared ensemble itself reports nothing.
/// </summary>
public sealed class TypedDiagnosticTests
{
    private const string Declared = """
        name: orders
        input:
          orderId: string
          amount: int
          priority: [low, high]
        notifications:
          - type: email
            to: [ops@example.com]
            from: conductor@example.com
            subject: "Order ${data.output.orderId}"
            events: [execution.completed]
        flow:
          - agent: ship-order
            output:
              trackingNumber: string
              express: bool
          - name: alert
            condition: ${ship-order.output.express == true}
            operation: sms
            config:
              to: "+14155550100"
              body: "Shipped ${previous.output.trackingNumber}"
        outputs:
          orderId: ${input.orderId}
          trackingNumber: ${ship-order.output.trackingNumber}
        """;

    private static DiagnosticResult Expect(string id, DiagnosticSeverity severity, int line, int column, int endLine, int endColumn) =>
        DiagnosticTests.Expect(id, severity, line, column, endLine, endColumn);

    [Fact]
    public Task Declared_ensemble_reports_nothing() => GeneratorVerifier.VerifyAsync(Declared);

    [Fact]
    public Task CND0016_typo_in_a_step_output_binding_points_at_the_member() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("trackingNumber: ${ship-order.output.trackingNumber}", "trackingNumber: ${ship-order.output.trackingNumbr}"),
        Expect("CND0016", DiagnosticSeverity.Error, 25, 39, 25, 52)
            .WithMessage("'ship-order.output' has no field 'trackingNumbr'; did you mean 'trackingNumber'? (fields: trackingNumber, express)"));

    [Fact]
    public Task CND0016_typo_in_an_input_binding() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("orderId: ${input.orderId}", "orderId: ${input.orderID}"),
        Expect("CND0016", DiagnosticSeverity.Error, 24, 20, 24, 27)
            .WithMessage("'input' has no field 'orderID'; did you mean 'orderId'? (fields: orderId, amount, priority)"));

    [Fact]
    public Task CND0016_typo_in_previous_output() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("${previous.output.trackingNumber}", "${previous.output.trackingNumbr}"),
        Expect("CND0016", DiagnosticSeverity.Error, 22, 40, 22, 53)
            .WithMessage("'previous.output' has no field 'trackingNumbr'; did you mean 'trackingNumber'? (fields: trackingNumber, express)"));

    [Fact]
    public Task CND0016_typo_in_data_output_is_checked_against_outputs() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("${data.output.orderId}", "${data.output.ordrId}"),
        Expect("CND0016", DiagnosticSeverity.Error, 10, 35, 10, 41)
            .WithMessage("'data.output' has no field 'ordrId'; did you mean 'orderId'? (fields: orderId, trackingNumber)"));

    [Fact]
    public Task CND0016_a_field_of_a_list_needs_an_index() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("  priority: [low, high]", "  priority: [low, high]\n  items: [{sku: string}]").Replace("orderId: ${input.orderId}", "orderId: ${input.items.sku}"),
        Expect("CND0016", DiagnosticSeverity.Error, 25, 26, 25, 29)
            .WithMessage("'input.items' is a list of an object; pick an item first, as in input.items[0].sku"));

    [Fact]
    public Task CND0017_comparing_a_bool_with_a_string() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("express == true", "express == 'true'"),
        Expect("CND0017", DiagnosticSeverity.Error, 18, 18, 18, 53)
            .WithMessage("the condition of flow step 'alert' compares 'ship-order.output.express' (a bool) with the string 'true': values of these types are never equal; compare with a value of the same type (write true or false without quotes)"));

    [Fact]
    public Task CND0017_comparing_a_number_with_a_string_and_an_enum_with_a_value_outside_its_set() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("${ship-order.output.express == true}", "${input.amount > 'ten' || input.priority == 'urgent'}"),
        Expect("CND0017", DiagnosticSeverity.Error, 18, 18, 18, 38)
            .WithMessage("the condition of flow step 'alert' compares 'input.amount' (a whole number (int)) with the string 'ten': values of these types cannot be compared; compare with a value of the same type (write the number without quotes)"),
        Expect("CND0017", DiagnosticSeverity.Error, 18, 42, 18, 68)
            .WithMessage("the condition of flow step 'alert' compares 'input.priority' (one of [low, high]) with the string 'urgent': 'urgent' is not one of its values [low, high], so this is never equal"));

    [Fact]
    public Task CND0017_comparisons_in_notification_templates_are_checked_too() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("${data.output.orderId}", "${input.amount == 'ten'}"),
        Expect("CND0017", DiagnosticSeverity.Error, 10, 23, 10, 44)
            .WithMessage("a binding in email notification #1 compares 'input.amount' (a whole number (int)) with the string 'ten': values of these types are never equal; compare with a value of the same type (write the number without quotes)"));

    [Fact]
    public Task CND0019_an_agent_declares_its_output_once() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("  - name: alert", "  - name: reship\n    agent: ship-order\n    output: {trackingNumber: string}\n  - name: alert"),
        Expect("CND0019", DiagnosticSeverity.Error, 19, 13, 19, 37)
            .WithMessage("agent 'ship-order' already declares its output on step 'ship-order' (line 15); an agent has one output type — remove this 'output:', the step uses that declaration"));

    [Fact]
    public Task CND0018_binding_into_an_undeclared_output_is_a_warning_that_says_how_to_declare_it() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("    output:\n      trackingNumber: string\n      express: bool\n", string.Empty).Replace("${ship-order.output.express == true}", "${ship-order.executed}"),
        Expect("CND0018", DiagnosticSeverity.Warning, 19, 24, 19, 54)
            .WithMessage("'previous.output.trackingNumber' reads the output of step 'ship-order', whose shape is not declared, so the build cannot check it and a typo would render empty; declare it with 'output:' on step 'ship-order', for example output: {trackingNumber: string} (types: docs/types.md)"),
        Expect("CND0018", DiagnosticSeverity.Warning, 22, 21, 22, 53));

    [Fact]
    public Task CND0018_data_output_on_agent_completed_of_an_undeclared_agent() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("events: [execution.completed]", "events: [agent.completed]")
            .Replace("${data.output.orderId}", "${data.output.label}")
            .Replace("  - name: alert", "  - agent: print-label\n  - name: alert"),
        Expect("CND0018", DiagnosticSeverity.Warning, 10, 23, 10, 40)
            .WithMessage("'data.output.label' reads data.output of agent.completed, which is the output of agent 'print-label', whose shape is not declared, so the build cannot check it and a typo would render empty; declare 'output:' on that step, for example output: {label: string} (types: docs/types.md)"),
        // The alert step's previous step is now print-label, whose output is not declared either.
        Expect("CND0018", DiagnosticSeverity.Warning, 23, 24, 23, 54));

    [Fact]
    public Task CND0016_data_output_on_agent_completed_is_checked_against_every_declared_agent() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("events: [execution.completed]", "events: [agent.completed, execution.completed]").Replace("${data.output.orderId}", "${data.output.trackingNumbr}"),
        Expect("CND0016", DiagnosticSeverity.Error, 10, 35, 10, 48)
            .WithMessage("'data.output.trackingNumbr' is in none of the output of agent 'ship-order' or the ensemble's outputs (fields: trackingNumber, express, orderId); did you mean 'trackingNumber'?"));

    [Fact]
    public Task CND0018_binding_into_undeclared_input() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("input:\n  orderId: string\n  amount: int\n  priority: [low, high]\n", string.Empty),
        Expect("CND0018", DiagnosticSeverity.Warning, 20, 14, 20, 27)
            .WithMessage("'input.orderId' reads the ensemble's input, whose shape is not declared, so the build cannot check it and a typo would render empty; declare it with 'input:' at the top of the file, for example input: {orderId: string} (types: docs/types.md)"));

    [Fact]
    public Task CND0019_unknown_type_suggests_the_closest() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("amount: int", "amount: integer"),
        Expect("CND0019", DiagnosticSeverity.Error, 4, 11, 4, 18)
            .WithMessage("unknown type 'integer' in field 'amount' of the ensemble's 'input'; did you mean 'int'? (types are string, int, long, number, decimal, bool, datetime, json, a mapping of fields, [T] for a list or [a, b, c] for a set of strings)"));

    [Fact]
    public Task CND0019_a_set_lists_each_value_once_and_lists_hold_no_optional_items() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("priority: [low, high]", "priority: [low, high, low]\n  tags: [string?]"),
        Expect("CND0019", DiagnosticSeverity.Error, 5, 25, 5, 28)
            .WithMessage("'low' is listed twice in field 'priority' of the ensemble's 'input'"),
        Expect("CND0019", DiagnosticSeverity.Error, 6, 10, 6, 17)
            .WithMessage("'string?' in the items of field 'tags' of the ensemble's 'input': only a field can be optional; list items are never null — write [string]"));

    [Fact]
    public Task CND0019_operation_steps_have_a_fixed_output() => GeneratorVerifier.VerifyAsync(
        Declared.Replace("    operation: sms\n", "    operation: sms\n    output: {sent: bool}\n"),
        Expect("CND0019", DiagnosticSeverity.Error, 20, 5, 20, 11)
            .WithMessage("flow step 'alert' declares 'output', but only agent steps do; an operation step's output is fixed ({deliveryId: string, deliveryIds?: [string]})"));

    [Theory]
    [InlineData("trackingNumber: ${ship-order.output.trackingNumber}", "trackingNumber: ${ship-order.output.trackingNumbr}", "'ship-order.output' has no field 'trackingNumbr'; did you mean 'trackingNumber'? (fields: trackingNumber, carrier, shippedAt, note)")]
    [InlineData("orderId: ${input.orderId}", "orderId: ${input.orderID}", "'input' has no field 'orderID'; did you mean 'orderId'? (fields: orderId, customerEmail, priority, items)")]
    public void The_quickstart_typos_of_the_issue_are_build_errors(string binding, string typo, string message)
    {
        // The Quickstart's own order-fulfilment.yaml, as a new user would edit it.
        var path = Path.Combine(ModelTests.FindRepoRoot(), "samples", "Quickstart", "ensembles", "quickstart", "order-fulfilment.yaml");
        var yaml = File.ReadAllText(path);
        Assert.Empty(Conductor.Sdk.Model.EnsembleParser.Parse(path, yaml).Diagnostics);
        Assert.Contains(binding, yaml, StringComparison.Ordinal);

        var result = Conductor.Sdk.Model.EnsembleParser.Parse(path, yaml.Replace(binding, typo, StringComparison.Ordinal));

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("CND0016", Conductor.Sdk.Model.Diagnostics.Severity.Error, message), (diagnostic.Id, diagnostic.Severity, diagnostic.Message));
        Assert.True(result.HasErrors);
    }
}
