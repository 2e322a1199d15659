using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Conductor.Sdk.Model;
using Conductor.Sdk.Model.Templates;

namespace Conductor.Sdk.Generators
{
    /// <summary>The notification configs and the <c>Notify</c> facade with its typed overloads.</summary>
    internal static partial class TypedEnsembleEmitter
    {
        private static void EmitNotifications(SourceWriter w, EnsembleDefinition ensemble)
        {
            w.Line("/// <summary>Builds the notifications from constants and the configuration values read at start-up.</summary>");
            w.Open($"public static {Generic}.IReadOnlyList<{Sdk}.Notifications.NotificationDefinition> CreateNotifications({Sdk}.Ensembles.EnsembleEnvironment environment)");
            w.Line($"var ctx = new {Sdk}.Ensembles.TemplateContext(Name, null, environment);");
            w.Open($"return new {Sdk}.Notifications.NotificationDefinition[]");
            foreach (var notification in ensemble.Notifications)
            {
                var events = "new string[] { " + string.Join(", ", notification.Events.Select(e => TemplateCompiler.Literal(e.Value))) + " }";
                var index = notification.Index.ToString(CultureInfo.InvariantCulture);

                switch (notification)
                {
                    case WebhookNotification webhook:
                        var headers = webhook.Headers.Count == 0
                            ? "null"
                            : $"new {Generic}.Dictionary<string, string> {{ " + string.Join(", ", webhook.Headers.Select(h => $"[{TemplateCompiler.Literal(h.Key.Value)}] = {TemplateCompiler.CompileStartup(h.Value)}")) + " }";
                        // Only an env-bound secret is allowed into the config; a literal secret (CND0006) is never emitted.
                        var secret = webhook.Secret?.EnvironmentVariable is string variable ? $"new string[] {{ ctx.Env({TemplateCompiler.Literal(variable)}) }}" : "null";
                        var format = webhook.Format == WebhookFormat.StandardWebhooks ? "StandardWebhooks" : "Conductor";
                        w.Line($"new {Sdk}.Notifications.WebhookNotificationDefinition(Name, {index}, {events}, new global::System.Uri({TemplateCompiler.CompileStartup(webhook.Url)}), {secret}, {webhook.Retries.ToString(CultureInfo.InvariantCulture)}, global::System.TimeSpan.FromMilliseconds({webhook.TimeoutMilliseconds.ToString(CultureInfo.InvariantCulture)}), {headers}, {Sdk}.Webhooks.WebhookSignatureFormat.{format}){RateLimit(webhook)},");
                        break;
                    case EmailNotification email:
                        w.Line($"new {Sdk}.Notifications.EmailNotificationDefinition(Name, {index}, {events}, {Provider(email.Provider)},");
                        w.Line($"    new[] {{ {string.Join(", ", email.To.Select(Compiled))} }},");
                        w.Line($"    {Compiled(email.From)}, {Compiled(email.Subject)}),");
                        break;
                    case SmsNotification sms:
                        w.Line($"new {Sdk}.Notifications.SmsNotificationDefinition(Name, {index}, {events}, {Provider(sms.Provider)},");
                        w.Line($"    new[] {{ {string.Join(", ", sms.To.Select(Compiled))} }},");
                        w.Line($"    {Compiled(sms.From)}, {Compiled(sms.Body)}),");
                        break;
                    case PushNotification push:
                        var accepted = Conductor.Sdk.Model.Validation.Schema.PushTargets(push.Provider.Value);
                        var targets = new[] { ("token", push.Token), ("topic", push.Topic), ("condition", push.Condition), ("deviceToken", push.DeviceToken), ("subscription", push.Subscription) }
                            .Where(t => t.Item2 is not null && accepted.Contains(t.Item1))
                            .Select(t => $"[{TemplateCompiler.Literal(t.Item1)}] = {Compiled(t.Item2)}");
                        var data = push.Data.Select(d => $"[{TemplateCompiler.Literal(d.Key.Value)}] = {Compiled(d.Value)}");
                        var actions = push.Actions.Select(a => $"({Compiled(a.Id)}, {Compiled(a.Title)})");
                        w.Line($"new {Sdk}.Notifications.PushNotificationDefinition(Name, {index}, {events}, {TemplateCompiler.Literal(push.Provider.Value)},");
                        w.Line($"    new {Generic}.Dictionary<string, {Sdk}.Notifications.CompiledTemplate> {{ {string.Join(", ", targets)} }},");
                        w.Line($"    {Compiled(push.Title)}, {Compiled(push.Body)}, {Compiled(push.Image)},");
                        w.Line($"    new {Generic}.Dictionary<string, {Sdk}.Notifications.CompiledTemplate> {{ {string.Join(", ", data)} }},");
                        var apnsTopic = push.Provider.Value == "apns" && push.Topic is not null ? $" {{ Options = new {Generic}.Dictionary<string, {Sdk}.Notifications.CompiledTemplate> {{ [\"topic\"] = {Compiled(push.Topic)} }} }}" : "";
                        w.Line($"    new ({Sdk}.Notifications.CompiledTemplate Id, {Sdk}.Notifications.CompiledTemplate Title)[] {{ {string.Join(", ", actions)} }}){apnsTopic},");
                        break;
                }
            }

            foreach (var step in ensemble.Flow.Where(s => s.Operation is not null && s.StepName is not null))
            {
                w.Line($"{OperationField(step)},");
            }

            w.Close(";");
            w.Close();
            w.Line();
        }

        /// <summary>A compiled template, or <c>null</c> for a field the YAML leaves out.</summary>
        private static string Compiled(Template? template) => template is null ? "null" : TemplateCompiler.Compile(template);

        private static string Provider(LocatedString? provider) => provider is null ? "null" : TemplateCompiler.Literal(provider.Value);

        private static void EmitNotify(SourceWriter w, EnsembleDefinition ensemble, string className, ShapeEmitter shapes)
        {
            w.Line("/// <summary>Creates the ensemble; the host's <c>AddEnsembles()</c> registers it as a singleton.</summary>");
            w.Open($"public {className}({Sdk}.Delivery.NotificationDispatcher dispatcher, global::System.TimeProvider time, {Sdk}.Runner.EnsembleRunner runner)");
            w.Line("Notify = new NotifyApi(dispatcher, time);");
            w.Line("_runner = runner;");
            w.Close();
            w.Line();
            w.Line($"private readonly {Sdk}.Runner.EnsembleRunner _runner;");
            w.Line();
            w.Line("/// <summary>Sends this ensemble's lifecycle events to the notifications that subscribe to them.</summary>");
            w.Line("public NotifyApi Notify { get; }");
            w.Line();
            // The six event methods live in the shared EnsembleNotifier base class; the file lists what each event reaches.
            w.Line("/// <summary>");
            w.Line("/// One method per event (from <see cref=\"global::Conductor.Sdk.Ensembles.EnsembleNotifier{TOutput}\"/>); each stores the");
            w.Line("/// deliveries before it returns and names them in the receipt. What each event reaches:");
            w.Line("/// <list type=\"bullet\">");
            foreach (var info in EventCatalog.All)
            {
                var reached = ensemble.Notifications.Where(n => n.Events.Any(e => e.Value == info.Name)).Select(Describe).ToList();
                w.Line($"/// <item><description><c>{info.Name}</c>: {Xml(reached.Count == 0 ? "no notification (the receipt is empty)" : string.Join("; ", reached))}</description></item>");
            }

            w.Line("/// </list>");
            w.Line("/// </summary>");
            w.Open($"public sealed class NotifyApi : {Sdk}.Ensembles.EnsembleNotifier<Output>");
            w.Line($"internal NotifyApi({Sdk}.Delivery.NotificationDispatcher dispatcher, global::System.TimeProvider time) : base(Name, Timeout, dispatcher, time) {{ }}");
            const string Receipt = "global::System.Threading.Tasks.ValueTask<global::Conductor.Sdk.Delivery.DispatchReceipt>";
            const string Token = "global::System.Threading.CancellationToken cancellationToken = default";
            if (ensemble.Input is not null)
            {
                w.Line();
                w.Line("/// <summary>Sends <c>execution.started</c> with the declared input (<c>data.input</c>, YAML key names).</summary>");
                w.Line($"public {Receipt} ExecutionStartedAsync(string executionId, Input input, {Token}) =>");
                w.Line("    ExecutionStartedAsync<Input>(executionId, input, cancellationToken);");
            }

            foreach (var (agent, _) in shapes.DeclaredAgentOutputs)
            {
                var step = ensemble.Flow.First(s => s.Agent?.Value == agent).StepName ?? agent;
                var type = shapes.OutputTypeOf(agent);
                w.Line();
                w.Line($"/// <summary>Sends <c>agent.completed</c> for agent <c>{Xml(agent)}</c> with its declared output.</summary>");
                w.Line($"public {Receipt} AgentCompletedAsync(string executionId, {type} output, global::System.TimeSpan duration, {Token}) =>");
                w.Line($"    AgentCompletedAsync<{type}>(executionId, {TemplateCompiler.Literal(agent)}, {TemplateCompiler.Literal(step)}, output, duration, cancellationToken);");
            }

            w.Close();
            w.Line();
        }

        /// <summary>The <c>rate-limit:</c> as an object initializer, or nothing.</summary>
        private static string RateLimit(WebhookNotification webhook) => !webhook.HasRateLimit ? string.Empty
            : $" {{ RateLimit = new {Sdk}.Delivery.RateLimit({webhook.RatePermits.ToString(CultureInfo.InvariantCulture)}, global::System.TimeSpan.FromSeconds({webhook.RatePerSeconds.ToString(CultureInfo.InvariantCulture)})) }}";

        private static string Describe(Notification notification)
        {
            switch (notification)
            {
                case WebhookNotification webhook: return $"webhook notification #{notification.Index + 1} to {webhook.Url.Raw}";
                case EmailNotification email: return $"email notification #{notification.Index + 1} to {string.Join(", ", email.To.Select(t => t.Raw))}";
                case SmsNotification sms: return $"sms notification #{notification.Index + 1} to {string.Join(", ", sms.To.Select(t => t.Raw))}";
                case PushNotification push: return $"push notification #{notification.Index + 1} via {push.Provider.Value}";
                default: return notification.TypeName;
            }
        }

        private static IEnumerable<(string Field, Template Template)> Fields(Notification notification)
        {
            switch (notification)
            {
                case WebhookNotification w:
                    yield return ("url", w.Url);
                    if (w.Secret is not null) yield return ("secret", w.Secret);
                    foreach (var h in w.Headers) yield return ("headers." + h.Key.Value, h.Value);
                    break;
                case EmailNotification e:
                    foreach (var t in e.To) yield return ("to", t);
                    if (e.From is not null) yield return ("from", e.From);
                    yield return ("subject", e.Subject);
                    break;
                case SmsNotification s:
                    foreach (var t in s.To) yield return ("to", t);
                    if (s.From is not null) yield return ("from", s.From);
                    yield return ("body", s.Body);
                    break;
                case PushNotification p:
                    foreach (var (name, t) in new[] { ("token", p.Token), ("topic", p.Topic), ("condition", p.Condition), ("deviceToken", p.DeviceToken), ("subscription", p.Subscription), ("title", p.Title), ("body", p.Body), ("image", p.Image) })
                    {
                        if (t is not null) yield return (name, t);
                    }

                    foreach (var d in p.Data) yield return ("data." + d.Key.Value, d.Value);
                    break;
            }
        }

        private static IEnumerable<string> EnvironmentVariables(Template template)
        {
            var seen = new HashSet<string>();
            foreach (var part in template.Parts)
            {
                if (part is not ExpressionPart expression) continue;
                var found = new List<string>();
                ExpressionWalker.VisitPaths(expression.Expression, path =>
                {
                    if (path.Segments.Count == 2 && path.Segments[0].Name == "env") found.Add(path.Segments[1].Name);
                });
                foreach (var name in found)
                {
                    if (seen.Add(name)) yield return name;
                }
            }
        }
    }
}
