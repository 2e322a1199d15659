using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary><c>flow:</c>: agent steps, operation steps, conditions and their config values.</summary>
        private sealed partial class Reader
        {
            private FlowStep? ReadStep(YNode node, int index)
            {
                var label = $"flow step #{index + 1}";
                if (node.Resolve() is not YMapping mapping)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} must be a mapping with 'agent:' or 'operation:', not {node.KindDescription}", node.Span);
                    return null;
                }

                var namedBy = (Lookup(mapping, "name") ?? Lookup(mapping, "agent"))?.Resolve() as YScalar;
                if (namedBy is not null && !namedBy.IsNull) label = $"flow step '{namedBy.Value}'";
                var entries = Entries(mapping, Schema.StepKeys, label);
                var name = entries.TryGetValue("name", out var n) ? Scalar(n, "name") : null;
                var agent = entries.TryGetValue("agent", out var a) ? Scalar(a, "agent") : null;
                var operation = entries.TryGetValue("operation", out var o) ? Scalar(o, "operation") : null;
                if (name is not null) label = $"flow step '{name.Value}'";
                else if (agent is not null) label = $"flow step '{agent.Value}'";

                if (agent is null && operation is null)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        $"{label} has neither 'agent' nor 'operation'; a step runs an agent (agent: check-health) or an operation (operation: sms)",
                        FirstLine(mapping));
                }
                else if (agent is not null && operation is not null)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has both 'agent' and 'operation'; a step runs one or the other — split it into two steps", operation.Span);
                }

                if (operation is not null && !Contains(Schema.Operations, operation.Value))
                {
                    Report(DiagnosticIds.UnknownKind, Severity.Error,
                        $"unknown operation '{operation.Value}'{Suggestions.DidYouMean(operation.Value, Schema.Operations)} (known operations: sms, email)",
                        operation.Span);
                }

                Template? condition = null;
                if (entries.TryGetValue("condition", out var c))
                {
                    condition = TemplateOf(c, "condition");
                    if (condition is not null && condition.SingleExpression is null && !HasTemplateError(condition))
                    {
                        Report(DiagnosticIds.TemplateSyntax, Severity.Error,
                            $"the condition of {label} must be a single ${{...}} expression, for example condition: ${{check-health.output.status == 'critical'}}",
                            condition.Span);
                    }
                }

                var config = new List<TemplateEntry>();
                if (entries.TryGetValue("config", out var cfg))
                {
                    var allowed = operation?.Value == "sms" ? Schema.SmsOperationKeys : operation?.Value == "email" ? Schema.EmailOperationKeys : null;
                    foreach (var entry in Map(cfg, "config"))
                    {
                        if (allowed is not null && !Contains(allowed, entry.Key.Value))
                        {
                            Report(DiagnosticIds.UnknownKey, Severity.Warning,
                                $"unknown key '{entry.Key.Value}' in the {operation!.Value} config of {label}{Suggestions.DidYouMean(entry.Key.Value, allowed)} (known keys: {string.Join(", ", allowed)})",
                                entry.Key.Span);
                            continue;
                        }

                        var recipients = IsRecipientList(operation?.Value, entry.Key.Value) && entry.Value.Resolve() is YSequence;
                        var value = recipients
                            ? RecipientList(operation!.Value, entry.Value, "config." + entry.Key.Value)
                            : TemplateOf(entry.Value, "config." + entry.Key.Value);
                        if (value is null) continue;
                        if (Contains(Schema.SecretOperationKeys, entry.Key.Value) && value.EnvironmentVariable is null && value.LiteralText.Length > 0)
                        {
                            // Never compiled into the program: the provider's configured credentials are used instead.
                            Report(DiagnosticIds.LiteralSecret, Severity.Warning,
                                $"'{entry.Key.Value}' in the config of {label} is written {(value.IsLiteral ? "as a literal" : "partly as a literal")}; anyone who can read this file has the credential, and it is ignored (the provider's configured credentials are used) — write {entry.Key.Value}: ${{env.NAME}} and set the value in configuration",
                                value.Span);
                            continue;
                        }

                        config.Add(new TemplateEntry(entry.Key, value));
                        // A list's addresses were checked one by one as it was read.
                        if (!recipients) CheckOperationValue(operation?.Value, entry.Key.Value, value, label);
                    }
                }

                if (operation?.Value == "sms" || operation?.Value == "email")
                {
                    foreach (var required in operation.Value == "sms" ? new[] { "to", "body" } : new[] { "to", "subject" })
                    {
                        if (!config.Exists(e => e.Key.Value == required) && !HasKey(cfg, required))
                        {
                            Report(DiagnosticIds.RequiredField, Severity.Error,
                                $"the {operation.Value} operation of {label} has no 'config.{required}'", operation.Span);
                        }
                    }
                }

                var input = new List<TemplateEntry>();
                if (entries.TryGetValue("input", out var inp))
                {
                    foreach (var entry in Map(inp, "input"))
                    {
                        var value = TemplateOf(entry.Value, "input." + entry.Key.Value);
                        if (value is not null) input.Add(new TemplateEntry(entry.Key, value));
                    }
                }

                Shape? output = null;
                if (entries.TryGetValue("output", out var outputNode))
                {
                    if (agent is null)
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            $"{label} declares 'output', but only agent steps do; an operation step's output is fixed ({{deliveryId: string, deliveryIds?: [string]}})",
                            KeySpan(mapping, "output") ?? outputNode.Span);
                    }
                    else
                    {
                        output = ReadDeclaration(outputNode, "output", $"the 'output' of {label}");
                    }
                }

                return new FlowStep(index, name, agent, operation, condition, config.ToEquatableArray(), input.ToEquatableArray(), mapping.Span, output);
            }

            private static bool IsRecipientList(string? operation, string key) =>
                (operation == "email" && (key == "to" || key == "cc" || key == "bcc")) || (operation == "sms" && key == "to");

            /// <summary>
            /// An email operation's <c>to</c>, <c>cc</c> or <c>bcc</c> (or an SMS operation's <c>to</c>) written as a list, as
            /// a notification's <c>to</c> may be: each address or number is read and checked on its own, then they are kept
            /// as one comma-separated value (the form the channels split: one SMS delivery per number).
            /// </summary>
            private Template? RecipientList(string operation, YNode node, string field)
            {
                var items = new List<Template>();
                foreach (var item in List(node, field))
                {
                    var template = TemplateOf(item, field);
                    if (template is null) continue;
                    if (operation == "sms") CheckPhone(template, field);
                    else CheckEmail(template, field);
                    items.Add(template);
                }

                if (items.Count == 0)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error, $"'{field}' is an empty list; give at least one address", node.Span);
                    return null;
                }

                var parts = new List<TemplatePart>();
                foreach (var item in items)
                {
                    if (parts.Count > 0) parts.Add(new LiteralPart(", ", item.Span));
                    parts.AddRange(item.Parts);
                }

                return new Template(string.Join(", ", items.Select(i => i.Raw)), parts.ToEquatableArray(), node.Span);
            }

            private static bool HasKey(YNode? node, string key) =>
                node?.Resolve() is YMapping m && Lookup(m, key) is not null;

            private void CheckOperationValue(string? operation, string key, Template value, string label)
            {
                if (key == "provider" && value.IsLiteral)
                {
                    var known = operation == "sms" ? Schema.SmsProviders : Schema.EmailProviders;
                    if (!Contains(known, value.Raw))
                    {
                        Report(DiagnosticIds.UnknownKind, Severity.Error,
                            $"unknown {operation} provider '{value.Raw}'{Suggestions.DidYouMean(value.Raw, known)} (known providers: {string.Join(", ", known)})",
                            value.Span);
                    }
                }
                else if (operation == "sms" && key == "to") CheckPhone(value, "config.to");
                else if (operation == "sms" && key == "body") CheckSmsLength(value, label);
                else if (operation == "email" && (key == "to" || key == "from" || key == "cc" || key == "bcc" || key == "replyTo")) CheckEmail(value, "config." + key);
            }

            private static bool HasTemplateError(Template template)
            {
                // An unterminated or unparsable binding already reported CND0009; its parts are incomplete.
                return template.Raw.Contains("${") && template.IsLiteral;
            }
        }
    }
}
