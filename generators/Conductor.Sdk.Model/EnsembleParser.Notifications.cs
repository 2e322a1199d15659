using System;
using System.Collections.Generic;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary>The rules every notification type shares: its list entry, its events, its provider and its recipients.</summary>
        private sealed partial class Reader
        {
            private Notification? ReadNotification(YNode node, int index)
            {
                var label = $"notification #{index + 1}";
                if (node.Resolve() is not YMapping mapping)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} must be a mapping with 'type:' and 'events:', not {node.KindDescription}", node.Span);
                    return null;
                }

                var typeNode = Lookup(mapping, "type");
                if (typeNode is not null && typeNode.Resolve() is not YScalar)
                {
                    Scalar(typeNode, "type"); // reports the wrong kind once
                    return null;
                }

                var type = typeNode is null ? null : Scalar(typeNode, "type");
                if (type is null || type.Value.Length == 0)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        $"{label} has no 'type'; use one of: webhook, email, sms, push", FirstLine(mapping));
                    Entries(mapping, Union(Schema.WebhookKeys, Schema.EmailKeys, Schema.SmsKeys, Schema.PushKeys), label);
                    return null;
                }

                IReadOnlyList<string> keys;
                switch (type.Value)
                {
                    case "webhook": keys = Schema.WebhookKeys; break;
                    case "email": keys = Schema.EmailKeys; break;
                    case "sms": keys = Schema.SmsKeys; break;
                    case "push": keys = Schema.PushKeys; break;
                    default:
                        Report(DiagnosticIds.UnknownKind, Severity.Error,
                            $"unknown notification type '{type.Value}'{Suggestions.DidYouMean(type.Value, Schema.NotificationTypes)} (known types: webhook, email, sms, push)",
                            type.Span);
                        return null;
                }

                label = $"{type.Value} notification #{index + 1}";
                var entries = Entries(mapping, keys, label);
                var events = ReadEvents(entries, mapping, label);
                switch (type.Value)
                {
                    case "webhook": return ReadWebhook(entries, mapping, index, events, label, type);
                    case "email": return ReadEmail(entries, mapping, index, events, label);
                    case "sms": return ReadSms(entries, mapping, index, events, label);
                    default: return ReadPush(entries, mapping, index, events, label);
                }
            }

            private EquatableArray<LocatedString> ReadEvents(Dictionary<string, YNode> entries, YMapping mapping, string label)
            {
                var events = new List<LocatedString>();
                if (!entries.TryGetValue("events", out var node))
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        $"{label} has no 'events'; list the events it should receive, for example events: [execution.failed]",
                        FirstLine(mapping));
                    return events.ToEquatableArray();
                }

                foreach (var item in List(node, "events"))
                {
                    var name = Scalar(item, "events");
                    if (name is null) continue;
                    if (EventCatalog.Find(name.Value) is null)
                    {
                        var hint = Suggestions.DidYouMean(name.Value, EventCatalog.KnownNames);
                        Report(DiagnosticIds.UnknownEvent, Severity.Error,
                            $"unknown event '{name.Value}'{hint}{(hint.Length == 0 ? "; known events: " + string.Join(", ", EventCatalog.KnownNames) : string.Empty)}",
                            name.Span);
                    }

                    events.Add(name);
                }

                if (events.Count == 0 && node.Resolve() is not YMapping)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        $"{label} has an empty 'events' list; it would never be sent — list at least one event", node.Span);
                }
                else
                {
                    var distinct = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var e in events) distinct.Add(e.Value);
                    if (distinct.IsSupersetOf(EventCatalog.Names))
                    {
                        Report(DiagnosticIds.AllEvents, Severity.Info,
                            $"{label} subscribes to every event; readers usually need only some of them (for example execution.failed and execution.timeout)",
                            node.Span);
                    }
                }

                return events.ToEquatableArray();
            }

            private LocatedString? Provider(Dictionary<string, YNode> entries, IReadOnlyList<string> known, string channel)
            {
                if (!entries.TryGetValue("provider", out var node)) return null;
                var provider = Scalar(node, "provider");
                if (provider is null) return null;
                if (!Contains(known, provider.Value))
                {
                    Report(DiagnosticIds.UnknownKind, Severity.Error,
                        $"unknown {channel} provider '{provider.Value}'{Suggestions.DidYouMean(provider.Value, known)} (known providers: {string.Join(", ", known)})",
                        provider.Span);
                    return null;
                }

                return provider;
            }

            private EquatableArray<Template> Recipients(Dictionary<string, YNode> entries, YMapping mapping, string label, string example, Action<Template, string> check)
            {
                var result = new List<Template>();
                if (!entries.TryGetValue("to", out var node))
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error, $"{label} has no 'to'; list the recipients as {example}", FirstLine(mapping));
                    return result.ToEquatableArray();
                }

                foreach (var item in List(node, "to"))
                {
                    var template = TemplateOf(item, "to");
                    if (template is null) continue;
                    check(template, "to");
                    result.Add(template);
                }

                if (result.Count == 0)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error, $"{label} has an empty 'to' list; list the recipients as {example}", node.Span);
                }

                return result.ToEquatableArray();
            }
        }
    }
}
