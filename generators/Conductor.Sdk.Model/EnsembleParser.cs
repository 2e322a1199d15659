using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    /// <summary>The outcome of reading one ensemble file: the model (null when it could not be built) and its diagnostics.</summary>
    public sealed record EnsembleParseResult(string FilePath, EnsembleDefinition? Ensemble, EquatableArray<EnsembleDiagnostic> Diagnostics)
    {
        /// <summary>True when any diagnostic is an error; no code is generated for such a file.</summary>
        public bool HasErrors
        {
            get
            {
                foreach (var diagnostic in Diagnostics)
                {
                    if (diagnostic.Severity == Severity.Error) return true;
                }

                return false;
            }
        }
    }

    /// <summary>
    /// Reads ensemble YAML into an <see cref="EnsembleDefinition"/> and checks it against the
    /// schema and the diagnostic catalogue. Never throws for any input text.
    /// </summary>
    public static partial class EnsembleParser
    {
        /// <summary>Parses and validates one ensemble file.</summary>
        public static EnsembleParseResult Parse(string filePath, string text)
        {
            var diagnostics = new List<EnsembleDiagnostic>();
            EnsembleDefinition? ensemble = null;
            try
            {
                ensemble = new Reader(filePath, text ?? string.Empty, diagnostics).Read();
                if (ensemble is not null) EnsembleValidator.Validate(ensemble, diagnostics);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A defect of ours must still surface as a located diagnostic, never as a crashed compiler.
                diagnostics.Add(new EnsembleDiagnostic(DiagnosticIds.YamlSyntax, Severity.Error,
                    $"the ensemble file could not be read ({ex.GetType().Name}: {ex.Message}); please report this with the file attached",
                    filePath, SourceSpan.FileStart));
                ensemble = null;
            }

            diagnostics.Sort((a, b) => a.Span.Start != b.Span.Start ? a.Span.Start.CompareTo(b.Span.Start) : string.CompareOrdinal(a.Id, b.Id));
            return new EnsembleParseResult(filePath, ensemble, diagnostics.ToEquatableArray());
        }

        private sealed partial class Reader
        {
            private static readonly Regex KebabCase = new Regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", RegexOptions.CultureInvariant);
            private static readonly Regex HeaderName = new Regex("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", RegexOptions.CultureInvariant);

            private readonly string _path;
            private readonly SourceMap _map;
            private readonly List<EnsembleDiagnostic> _diagnostics;

            public Reader(string path, string text, List<EnsembleDiagnostic> diagnostics)
            {
                _path = path;
                _map = new SourceMap(text);
                _diagnostics = diagnostics;
            }

            public EnsembleDefinition? Read()
            {
                var tree = YamlTreeReader.Read(_map);
                if (tree.Error is not null)
                {
                    Report(DiagnosticIds.YamlSyntax, Severity.Error, tree.Error, tree.ErrorSpan);
                    return null;
                }

                var root = tree.Root?.Resolve();
                if (root is null || (root is YScalar s && s.IsNull))
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        "the ensemble file is empty; an ensemble needs at least 'name:' (for example 'name: user-onboarding')",
                        SourceSpan.FileStart);
                    return null;
                }

                if (root is not YMapping mapping)
                {
                    Report(DiagnosticIds.YamlSyntax, Severity.Error,
                        $"the top level of an ensemble file must be a mapping with keys such as 'name:' and 'notifications:', not {root.KindDescription}",
                        root.Span);
                    return null;
                }

                var entries = Entries(mapping, Schema.RootKeys, "the ensemble");
                var name = ReadName(entries, mapping);
                var description = entries.TryGetValue("description", out var d) ? Scalar(d, "description") : null;
                LocatedInt? timeout = null;
                if (entries.TryGetValue("timeout", out var t))
                {
                    timeout = Integer(t, "timeout", Schema.Limits.MinEnsembleTimeout, Schema.Limits.MaxEnsembleTimeout, "ensemble 'timeout' (milliseconds)");
                }

                var notifications = new List<Notification>();
                if (entries.TryGetValue("notifications", out var n))
                {
                    var index = 0;
                    foreach (var item in List(n, "notifications"))
                    {
                        var notification = ReadNotification(item, index++);
                        if (notification is not null) notifications.Add(notification);
                    }
                }

                var flow = new List<FlowStep>();
                if (entries.TryGetValue("flow", out var f))
                {
                    var index = 0;
                    foreach (var item in List(f, "flow"))
                    {
                        var step = ReadStep(item, index++);
                        if (step is not null) flow.Add(step);
                    }
                }

                Shape? input = null;
                if (entries.TryGetValue("input", out var i)) input = ReadDeclaration(i, "input", "the ensemble's 'input'");

                var outputs = new List<OutputBinding>();
                if (entries.TryGetValue("outputs", out var o))
                {
                    foreach (var entry in Map(o, "outputs"))
                    {
                        var value = TemplateOf(entry.Value, "outputs." + entry.Key.Value);
                        if (value is not null) outputs.Add(new OutputBinding(entry.Key, value));
                    }
                }

                return new EnsembleDefinition(
                    _path,
                    name ?? new LocatedString(string.Empty, mapping.Span),
                    description,
                    timeout,
                    notifications.ToEquatableArray(),
                    flow.ToEquatableArray(),
                    outputs.ToEquatableArray(),
                    mapping.Span,
                    input);
            }

            private LocatedString? ReadName(Dictionary<string, YNode> entries, YMapping mapping)
            {
                LocatedString? name = null;
                if (entries.TryGetValue("name", out var node))
                {
                    if (node.Resolve() is not YScalar) return Scalar(node, "name"); // reports the wrong kind once
                    name = Scalar(node, "name");
                }

                if (name is null || name.Value.Length == 0)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error,
                        "the ensemble has no 'name'; add a kebab-case name such as 'name: user-onboarding'",
                        entries.TryGetValue("name", out var at) ? at.Span : FirstLine(mapping));
                    return null;
                }

                if (!KebabCase.IsMatch(name.Value))
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"ensemble name '{name.Value}' is not kebab-case; use lowercase letters, digits and single hyphens, starting with a letter (for example '{Suggest(name.Value)}')",
                        name.Span);
                }

                return name;
            }

            private static string Suggest(string name)
            {
                var builder = new System.Text.StringBuilder();
                foreach (var c in name)
                {
                    if (c < 128 && char.IsLetterOrDigit(c))
                    {
                        if (char.IsUpper(c) && builder.Length > 0 && builder[builder.Length - 1] != '-') builder.Append('-');
                        builder.Append(char.ToLowerInvariant(c));
                    }
                    else if (builder.Length > 0 && builder[builder.Length - 1] != '-')
                    {
                        builder.Append('-');
                    }
                }

                var result = builder.ToString().Trim('-');
                if (result.Length == 0 || !char.IsLetter(result[0])) result = "ensemble-" + result;
                return result.TrimEnd('-');
            }

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
                        var hint = Suggestions.DidYouMean(name.Value, EventCatalog.Names);
                        Report(DiagnosticIds.UnknownEvent, Severity.Error,
                            $"unknown event '{name.Value}'{hint}{(hint.Length == 0 ? "; known events: " + string.Join(", ", EventCatalog.Names) : string.Empty)}",
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

            private Notification? ReadWebhook(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label, LocatedString type)
            {
                var url = Required(entries, mapping, "url", label, "the address to POST to, for example url: https://api.example.com/webhooks");
                if (url is not null) CheckUrl(url, label);

                Template? secret = null;
                if (entries.TryGetValue("secret", out var secretNode))
                {
                    secret = TemplateOf(secretNode, "secret");
                    if (secret is not null && secret.Raw.Trim().Length == 0)
                    {
                        Report(DiagnosticIds.MissingSecret, Severity.Warning,
                            $"{label} has an empty 'secret', so it is sent unsigned and receivers cannot verify it; write secret: ${{env.WEBHOOK_SECRET}}",
                            secret.Span);
                        secret = null;
                    }
                    else if (secret is not null && secret.EnvironmentVariable is null && (secret.IsLiteral || secret.LiteralText.Length > 0))
                    {
                        // A secret bound only to event data is CND0010 (webhook fields are fixed at start-up).
                        var how = secret.IsLiteral ? "written as a literal" : "written partly as a literal";
                        var why = "anyone who can read this file can forge signatures";
                        Report(DiagnosticIds.LiteralSecret, Severity.Warning,
                            $"{label} has its secret {how}; {why} — write secret: ${{env.WEBHOOK_SECRET}} and set the value in configuration",
                            secret.Span);
                    }
                }
                else
                {
                    Report(DiagnosticIds.MissingSecret, Severity.Warning,
                        $"{label} has no 'secret', so it is sent unsigned and receivers cannot verify it; add secret: ${{env.WEBHOOK_SECRET}}",
                        type.Span);
                }

                var retries = entries.TryGetValue("retries", out var r)
                    ? Integer(r, "retries", Schema.Limits.MinRetries, Schema.Limits.MaxRetries, "'retries' (retries after the first attempt)")?.Value
                    : null;
                var timeout = entries.TryGetValue("timeout", out var t)
                    ? Integer(t, "timeout", Schema.Limits.MinWebhookTimeout, Schema.Limits.MaxWebhookTimeout, "webhook 'timeout' (milliseconds per attempt)")?.Value
                    : null;

                var headers = new List<TemplateEntry>();
                if (entries.TryGetValue("headers", out var h))
                {
                    foreach (var entry in Map(h, "headers"))
                    {
                        if (!HeaderName.IsMatch(entry.Key.Value))
                        {
                            Report(DiagnosticIds.OutOfRange, Severity.Error,
                                $"'{entry.Key.Value}' is not a valid HTTP header name; use letters, digits and '-'", entry.Key.Span);
                            continue;
                        }

                        var value = TemplateOf(entry.Value, "headers." + entry.Key.Value);
                        if (value is not null) headers.Add(new TemplateEntry(entry.Key, value));
                    }
                }

                var format = WebhookFormat.Conductor;
                if (entries.TryGetValue("format", out var fm) && Scalar(fm, "format") is LocatedString formatValue)
                {
                    if (formatValue.Value == "standard-webhooks") format = WebhookFormat.StandardWebhooks;
                    else if (formatValue.Value != "conductor")
                    {
                        Report(DiagnosticIds.UnknownKind, Severity.Error,
                            $"unknown webhook format '{formatValue.Value}'{Suggestions.DidYouMean(formatValue.Value, Schema.WebhookFormats)} (known formats: conductor, standard-webhooks)",
                            formatValue.Span);
                    }
                }

                if (url is null) return null;
                return new WebhookNotification(index, events, mapping.Span, url, secret,
                    retries ?? WebhookNotification.DefaultRetries,
                    timeout ?? WebhookNotification.DefaultTimeoutMilliseconds,
                    headers.ToEquatableArray(), format);
            }

            private void CheckUrl(Template url, string label)
            {
                if (url.Parts.Count == 0 || url.Parts[0] is not LiteralPart)
                {
                    return; // The address comes from a binding (usually ${env.X}); it is checked at start-up.
                }

                const string Placeholder = "conductor-binding";
                var probe = new System.Text.StringBuilder();
                foreach (var part in url.Parts)
                {
                    probe.Append(part is LiteralPart literal ? literal.Text : Placeholder);
                }

                if (!Uri.TryCreate(probe.ToString(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
                {
                    Report(DiagnosticIds.InvalidUrl, Severity.Error,
                        $"{label} has an invalid url '{url.Raw}'; it must be an absolute http or https address such as https://api.example.com/webhooks",
                        url.Span);
                    return;
                }

                if (uri.Scheme == Uri.UriSchemeHttp && !uri.IsLoopback && uri.Host.IndexOf(Placeholder, StringComparison.Ordinal) < 0)
                {
                    Report(DiagnosticIds.InvalidUrl, Severity.Warning,
                        $"{label} sends to '{uri.Host}' over plain http, so payloads and signatures travel unencrypted; use https (http is only expected for loopback hosts)",
                        url.Span);
                }
            }

            private Notification? ReadEmail(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label)
            {
                var provider = Provider(entries, Schema.EmailProviders, "email");
                var to = Recipients(entries, mapping, label, "email addresses, for example to: [oncall@example.com] or to: [\"${env.ONCALL_EMAIL}\"]", CheckEmail);
                Template? from = null;
                if (entries.TryGetValue("from", out var f))
                {
                    from = TemplateOf(f, "from");
                    if (from is not null) CheckEmail(from, "from");
                }

                var subject = entries.TryGetValue("subject", out var s) ? TemplateOf(s, "subject") : null;
                subject ??= DefaultTemplate(EmailNotification.DefaultSubject, mapping);
                return new EmailNotification(index, events, mapping.Span, provider, to, from, subject);
            }

            private Notification? ReadSms(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label)
            {
                var provider = Provider(entries, Schema.SmsProviders, "SMS");
                var to = Recipients(entries, mapping, label, "E.164 phone numbers, for example to: [\"+14155550100\"] or to: [\"${env.ONCALL_PHONE}\"]", CheckPhone);
                Template? from = null;
                if (entries.TryGetValue("from", out var f))
                {
                    from = TemplateOf(f, "from");
                    if (from is not null && from.IsLiteral && from.Raw.StartsWith("+", StringComparison.Ordinal)) CheckPhone(from, "from");
                }

                var body = entries.TryGetValue("body", out var b) ? TemplateOf(b, "body") : null;
                if (body is not null) CheckSmsLength(body, label);
                body ??= DefaultTemplate(SmsNotification.DefaultBody, mapping);
                return new SmsNotification(index, events, mapping.Span, provider, to, from, body);
            }

            private void CheckSmsLength(Template body, string label)
            {
                var literal = body.LiteralText.Length;
                if (literal > SmsNotification.MaxBodyLength)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has a body of at least {literal} characters before any binding is filled in; SMS bodies are limited to {SmsNotification.MaxBodyLength}",
                        body.Span);
                }
                else if (body.Raw.Trim().Length == 0)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has an empty body; an SMS needs 1 to {SmsNotification.MaxBodyLength} characters", body.Span);
                }
            }

            private Notification? ReadPush(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label)
            {
                var provider = Provider(entries, Schema.PushProviders, "push");
                if (provider is null)
                {
                    if (!entries.ContainsKey("provider"))
                    {
                        Report(DiagnosticIds.RequiredField, Severity.Error,
                            $"{label} has no 'provider'; use one of: firebase, apns, webpush", FirstLine(mapping));
                    }

                    return null;
                }

                var targets = Schema.PushTargets(provider.Value);
                var given = new List<string>();
                // For APNs, 'topic' is the apns-topic header (the app's bundle id), not a recipient.
                var apnsTopic = provider.Value == "apns";
                foreach (var key in new[] { "token", "topic", "condition", "deviceToken", "subscription" })
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

                        var value = TemplateOf(entry.Value, "config." + entry.Key.Value);
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
                        CheckOperationValue(operation?.Value, entry.Key.Value, value, label);
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

            private static readonly Regex EmailAddress = new Regex(
                @"^(?:[^<>@]+<\s*)?[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+(?:\s*>)?$",
                RegexOptions.CultureInvariant);

            private static readonly Regex E164 = new Regex(@"^\+[1-9][0-9]{1,14}$", RegexOptions.CultureInvariant);

            private void CheckEmail(Template value, string field)
            {
                if (!value.IsLiteral) return;
                var text = value.Raw.Trim();
                var angle = text.IndexOf('<');
                var local = angle >= 0 ? text.Substring(angle + 1).TrimEnd('>', ' ') : text;
                if (!EmailAddress.IsMatch(text) || local.StartsWith(".", StringComparison.Ordinal) || local.Contains(".."))
                {
                    Report(DiagnosticIds.InvalidAddress, Severity.Error,
                        $"'{value.Raw}' in '{field}' is not a valid email address; write it as name@example.com or \"Name <name@example.com>\", or bind it with ${{env.NAME}}",
                        value.Span);
                }
            }

            private void CheckPhone(Template value, string field)
            {
                if (!value.IsLiteral) return;
                if (!E164.IsMatch(value.Raw.Trim()))
                {
                    Report(DiagnosticIds.InvalidAddress, Severity.Error,
                        $"'{value.Raw}' in '{field}' is not an E.164 phone number; write '+' then the country code and number with no spaces (for example +14155550100), or bind it with ${{env.NAME}}",
                        value.Span);
                }
            }

            private Template DefaultTemplate(string text, YMapping mapping)
            {
                var errors = new List<TemplateError>();
                return TemplateParser.Parse(text, new TextLocator(null, FirstLine(mapping), text), errors);
            }

            private Template? Required(Dictionary<string, YNode> entries, YMapping mapping, string key, string label, string example)
            {
                if (!entries.TryGetValue(key, out var node))
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error, $"{label} has no '{key}'; add {example}", FirstLine(mapping));
                    return null;
                }

                var template = TemplateOf(node, key);
                if (template is not null && template.Raw.Trim().Length == 0)
                {
                    Report(DiagnosticIds.RequiredField, Severity.Error, $"{label} has an empty '{key}'; add {example}", node.Span);
                    return null;
                }

                return template;
            }

            private LocatedString? Scalar(YNode node, string field)
            {
                var resolved = node.Resolve();
                if (resolved is YScalar scalar)
                {
                    return new LocatedString(scalar.IsNull ? string.Empty : scalar.Value, node is YAlias ? node.Span : scalar.Span);
                }

                Report(DiagnosticIds.OutOfRange, Severity.Error, $"'{field}' must be a single value, not {resolved.KindDescription}", node.Span);
                return null;
            }

            private Template? TemplateOf(YNode node, string field)
            {
                var resolved = node.Resolve();
                if (resolved is not YScalar scalar)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error, $"'{field}' must be a single value, not {resolved.KindDescription}", node.Span);
                    return null;
                }

                var value = scalar.IsNull ? string.Empty : scalar.Value;
                var errors = new List<TemplateError>();
                var locator = new TextLocator(_map, node is YAlias ? node.Span : scalar.Span, value);
                var template = TemplateParser.Parse(value, locator, errors);
                foreach (var error in errors)
                {
                    Report(DiagnosticIds.TemplateSyntax, Severity.Error, $"in '{field}': {error.Message}", error.Span);
                }

                return template;
            }

            private LocatedInt? Integer(YNode node, string field, int min, int max, string description)
            {
                var scalar = Scalar(node, field);
                if (scalar is null) return null;
                if (!int.TryParse(scalar.Value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{description} must be a whole number between {min} and {max}, not '{scalar.Value}'", scalar.Span);
                    return null;
                }

                if (value < min || value > max)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{description} is {value}; it must be between {min} and {max}", scalar.Span);
                    return null;
                }

                return new LocatedInt(value, scalar.Span);
            }

            private List<YNode> List(YNode node, string field)
            {
                var resolved = node.Resolve();
                switch (resolved)
                {
                    case YSequence sequence: return sequence.Items;
                    case YScalar scalar when scalar.IsNull: return new List<YNode>();
                    case YScalar _: return new List<YNode> { node };
                    default:
                        Report(DiagnosticIds.OutOfRange, Severity.Error, $"'{field}' must be a list, not {resolved.KindDescription}", node.Span);
                        return new List<YNode>();
                }
            }

            private List<KeyValuePair<LocatedString, YNode>> Map(YNode node, string field)
            {
                var result = new List<KeyValuePair<LocatedString, YNode>>();
                var resolved = node.Resolve();
                if (resolved is YScalar scalar && scalar.IsNull) return result;
                if (resolved is not YMapping mapping)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error, $"'{field}' must be a mapping of names to values, not {resolved.KindDescription}", node.Span);
                    return result;
                }

                foreach (var entry in Flatten(mapping))
                {
                    result.Add(entry);
                }

                return result;
            }

            /// <summary>Reads a mapping's entries (with merge keys), reporting duplicates and unknown keys.</summary>
            private Dictionary<string, YNode> Entries(YMapping mapping, IReadOnlyList<string> known, string label)
            {
                var result = new Dictionary<string, YNode>(StringComparer.Ordinal);
                foreach (var entry in Flatten(mapping))
                {
                    var key = entry.Key.Value;
                    if (!Contains(known, key))
                    {
                        var hint = Suggestions.DidYouMean(key, known);
                        Report(DiagnosticIds.UnknownKey, Severity.Warning,
                            $"unknown key '{key}' in {label} is ignored{(hint.Length > 0 ? hint : "; known keys: " + string.Join(", ", known))}",
                            entry.Key.Span);
                        continue;
                    }

                    result[key] = entry.Value;
                }

                return result;
            }

            private List<KeyValuePair<LocatedString, YNode>> Flatten(YMapping mapping)
            {
                var result = new List<KeyValuePair<LocatedString, YNode>>();
                var seen = new Dictionary<string, int>(StringComparer.Ordinal);
                var merged = new List<KeyValuePair<LocatedString, YNode>>();
                foreach (var entry in mapping.Entries)
                {
                    var keyNode = entry.Key.Resolve();
                    if (keyNode is not YScalar keyScalar)
                    {
                        Report(DiagnosticIds.YamlSyntax, Severity.Error, $"keys must be plain names, not {keyNode.KindDescription}", entry.Key.Span);
                        continue;
                    }

                    if (keyScalar.Value == "<<" && keyScalar.IsPlain)
                    {
                        // YAML merge key: entries of the referenced mapping(s) apply unless overridden here.
                        foreach (var source in MergeSources(entry.Value))
                        {
                            foreach (var inner in Flatten(source)) merged.Add(inner);
                        }

                        continue;
                    }

                    var key = new LocatedString(keyScalar.Value, entry.Key.Span);
                    if (seen.ContainsKey(key.Value))
                    {
                        Report(DiagnosticIds.YamlSyntax, Severity.Error,
                            $"duplicate key '{key.Value}'; YAML keeps only one of them — remove or rename the other", key.Span);
                        continue;
                    }

                    seen[key.Value] = result.Count;
                    result.Add(new KeyValuePair<LocatedString, YNode>(key, entry.Value));
                }

                foreach (var entry in merged)
                {
                    if (seen.ContainsKey(entry.Key.Value)) continue;
                    seen[entry.Key.Value] = result.Count;
                    result.Add(entry);
                }

                return result;
            }

            private IEnumerable<YMapping> MergeSources(YNode node)
            {
                var resolved = node.Resolve();
                if (resolved is YMapping mapping)
                {
                    yield return mapping;
                }
                else if (resolved is YSequence sequence)
                {
                    foreach (var item in sequence.Items)
                    {
                        if (item.Resolve() is YMapping m) yield return m;
                        else Report(DiagnosticIds.YamlSyntax, Severity.Error, "a merge key '<<' takes mappings only", item.Span);
                    }
                }
                else
                {
                    Report(DiagnosticIds.YamlSyntax, Severity.Error, "a merge key '<<' takes a mapping or a list of mappings", node.Span);
                }
            }

            /// <summary>Finds a key without reporting anything; entries written here win over merged ones.</summary>
            private static YNode? Lookup(YMapping mapping, string key, int depth = 0)
            {
                foreach (var entry in mapping.Entries)
                {
                    if (entry.Key.Resolve() is YScalar scalar && scalar.Value == key) return entry.Value;
                }

                if (depth > YamlTreeReader.MaxDepth) return null;
                foreach (var entry in mapping.Entries)
                {
                    if (entry.Key.Resolve() is not YScalar { Value: "<<", IsPlain: true }) continue;
                    var source = entry.Value.Resolve();
                    var sources = source is YSequence list ? list.Items.Select(i => i.Resolve()) : new[] { source };
                    foreach (var candidate in sources)
                    {
                        if (candidate is YMapping merged && Lookup(merged, key, depth + 1) is YNode found) return found;
                    }
                }

                return null;
            }

            private static SourceSpan? KeySpan(YMapping mapping, string key)
            {
                foreach (var entry in mapping.Entries)
                {
                    if (entry.Key.Resolve() is YScalar scalar && scalar.Value == key) return entry.Key.Span;
                }

                return null;
            }

            private SourceSpan FirstLine(YMapping mapping)
            {
                // Point at the first key of the mapping: the line a reader recognises as the start of the item.
                if (mapping.Entries.Count > 0) return mapping.Entries[0].Key.Span;
                return mapping.Span;
            }

            private static bool Contains(IReadOnlyList<string> list, string value)
            {
                foreach (var item in list)
                {
                    if (string.Equals(item, value, StringComparison.Ordinal)) return true;
                }

                return false;
            }

            private static IReadOnlyList<string> Union(params IReadOnlyList<string>[] lists)
            {
                var set = new List<string>();
                foreach (var list in lists)
                {
                    foreach (var item in list)
                    {
                        if (!set.Contains(item)) set.Add(item);
                    }
                }

                return set;
            }

            private void Report(string id, Severity severity, string message, SourceSpan span) =>
                _diagnostics.Add(new EnsembleDiagnostic(id, severity, message, _path, span));
        }
    }
}
