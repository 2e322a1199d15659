using System.Collections.Generic;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary><c>type: push</c>: provider, device tokens or subscriptions, title, body and data.</summary>
        private sealed partial class Reader
        {
            private Notification? ReadPush(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label)
            {
                var provider = Provider(entries, Schema.PushProviders, "push");
                if (provider is null)
                {
                    if (!entries.ContainsKey("provider"))
                    {
                        Report(DiagnosticIds.RequiredField, Severity.Error,
                            $"{label} has no 'provider'; use one of: {string.Join(", ", Schema.PushProviders)}", FirstLine(mapping));
                    }

                    return null;
                }

                var targets = Schema.PushTargets(provider.Value);
                var given = new List<string>();
                // For APNs, 'topic' is the apns-topic header (the app's bundle id), not a recipient.
                var apnsTopic = provider.Value == "apns";
                foreach (var key in Schema.PushTargetKeys)
                {
                    if (!entries.TryGetValue(key, out var node) || (apnsTopic && key == "topic")) continue;
                    if (Contains(targets, key)) given.Add(key);
                    else
                    {
                        Report(DiagnosticIds.UnknownKey, Severity.Warning,
                            $"'{key}' is not used by the {provider.Value} provider and is ignored; it takes {string.Join(" or ", targets)}",
                            KeySpan(mapping, key) ?? node.Span);
                    }
                }

                if (given.Count == 0)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        $"{label} has no target; the {provider.Value} provider needs {(targets.Count == 1 ? "'" + targets[0] + "'" : "one of " + string.Join(", ", targets))}",
                        provider.Span);
                }
                else if (given.Count > 1)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} sets {string.Join(" and ", given)}; a push message goes to exactly one target", provider.Span);
                }

                Template? Optional(string key) => entries.TryGetValue(key, out var node) && (key != "token" && key != "topic" && key != "condition" && key != "deviceToken" && key != "subscription" || Contains(targets, key) || (apnsTopic && key == "topic"))
                    ? TemplateOf(node, key)
                    : null;

                var title = Optional("title");
                var body = Optional("body");
                if (title is null && body is null && !entries.ContainsKey("title") && !entries.ContainsKey("body"))
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        $"{label} has neither 'title' nor 'body'; a push notification needs at least one", provider.Span);
                }

                var data = new List<TemplateEntry>();
                if (entries.TryGetValue("data", out var d))
                {
                    foreach (var entry in Map(d, "data"))
                    {
                        var value = TemplateOf(entry.Value, "data." + entry.Key.Value);
                        if (value is not null) data.Add(new TemplateEntry(entry.Key, value));
                    }
                }

                var actions = new List<PushAction>();
                if (entries.TryGetValue("actions", out var a))
                {
                    foreach (var item in List(a, "actions"))
                    {
                        var resolved = item.Resolve();
                        if (resolved is YScalar)
                        {
                            var text = TemplateOf(item, "actions");
                            if (text is not null) actions.Add(new PushAction(text, text, item.Span));
                        }
                        else if (resolved is YMapping actionMap)
                        {
                            var actionEntries = Entries(actionMap, Schema.PushActionKeys, "push action");
                            var id = Required(actionEntries, actionMap, "id", "push action", "an identifier the app receives, for example id: view-order");
                            var title2 = Required(actionEntries, actionMap, "title", "push action", "the button text, for example title: View order");
                            if (id is not null && title2 is not null) actions.Add(new PushAction(id, title2, actionMap.Span));
                        }
                        else
                        {
                            Report(DiagnosticIds.OutOfRange, Severity.Error,
                                $"a push action must be a text or a mapping with 'id' and 'title', not {item.KindDescription}", item.Span);
                        }
                    }
                }

                return new PushNotification(index, events, mapping.Span, provider,
                    Optional("token"), Optional("topic"), Optional("condition"), Optional("deviceToken"), Optional("subscription"),
                    title, body, Optional("image"), data.ToEquatableArray(), actions.ToEquatableArray());
            }
        }
    }
}
