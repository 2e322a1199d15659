using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;

namespace Conductor.Sdk.Model.Validation
{
    /// <summary>
    /// Checks every <c>${...}</c> binding of a parsed ensemble against what exists where it is
    /// used (DESIGN.md section 4): roots, steps, event data fields and output keys.
    /// </summary>
    public static class EnsembleValidator
    {
        private static readonly Regex EnvironmentName = new Regex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);
        private static readonly string[] FixedRoots = { "event", "timestamp", "ensemble", "data", "env", "input", "previous" };

        /// <summary>Adds a diagnostic for every binding that cannot be resolved.</summary>
        public static void Validate(EnsembleDefinition ensemble, List<EnsembleDiagnostic> diagnostics)
        {
            var steps = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var step in ensemble.Flow)
            {
                if (step.StepName is string name && !steps.ContainsKey(name)) steps[name] = step.Index;
            }

            var checker = new BindingChecker(ensemble, steps, diagnostics, new BindingTypes(ensemble, diagnostics.Add));
            foreach (var notification in ensemble.Notifications)
            {
                var scope = Scope.ForNotification(notification);
                var fixedScope = Scope.ForFixedFields(notification);
                foreach (var template in Templates(notification))
                {
                    checker.Check(template, IsFixed(notification, template) ? fixedScope : scope);
                }
            }

            foreach (var step in ensemble.Flow)
            {
                var scope = Scope.ForStep(step);
                if (step.Condition is not null) checker.Check(step.Condition, scope, isCondition: true);
                foreach (var entry in step.Config) checker.Check(entry.Value, scope);
                foreach (var entry in step.Input) checker.Check(entry.Value, scope);
            }

            foreach (var output in ensemble.Outputs) checker.Check(output.Value, Scope.Outputs);
            CheckOneOutputPerAgent(ensemble, diagnostics);
        }

        /// <summary>An agent has one output type: it may be declared on one of the steps that run the agent (CND0019).</summary>
        private static void CheckOneOutputPerAgent(EnsembleDefinition ensemble, List<EnsembleDiagnostic> diagnostics)
        {
            var declared = new Dictionary<string, FlowStep>(StringComparer.Ordinal);
            foreach (var step in ensemble.Flow)
            {
                if (step.Agent is null || step.Output is null) continue;
                if (declared.TryGetValue(step.Agent.Value, out var first))
                {
                    diagnostics.Add(new EnsembleDiagnostic(DiagnosticIds.InvalidShape, Severity.Error,
                        $"agent '{step.Agent.Value}' already declares its output on step '{first.StepName}' (line {first.Output!.Span.DisplayLine}); an agent has one output type — remove this 'output:', the step uses that declaration",
                        ensemble.FilePath, step.Output.Span));
                }
                else
                {
                    declared[step.Agent.Value] = step;
                }
            }
        }

        /// <summary>
        /// A webhook's address, secret and headers are set up once at start-up, so they may bind only to values known
        /// then (<c>env</c>, <c>ensemble.name</c>), not to the event.
        /// </summary>
        public static bool IsFixed(Notification notification, Template template) =>
            notification is WebhookNotification webhook
            && (ReferenceEquals(template, webhook.Url) || ReferenceEquals(template, webhook.Secret) || webhook.Headers.Any(h => ReferenceEquals(h.Value, template)));

        /// <summary>Every template a notification renders.</summary>
        public static IEnumerable<Template> Templates(Notification notification)
        {
            switch (notification)
            {
                case WebhookNotification w:
                    yield return w.Url;
                    if (w.Secret is not null) yield return w.Secret;
                    foreach (var h in w.Headers) yield return h.Value;
                    break;
                case EmailNotification e:
                    foreach (var t in e.To) yield return t;
                    if (e.From is not null) yield return e.From;
                    yield return e.Subject;
                    break;
                case SmsNotification s:
                    foreach (var t in s.To) yield return t;
                    if (s.From is not null) yield return s.From;
                    yield return s.Body;
                    break;
                case PushNotification p:
                    foreach (var t in new[] { p.Token, p.Topic, p.Condition, p.DeviceToken, p.Subscription, p.Title, p.Body, p.Image })
                    {
                        if (t is not null) yield return t;
                    }

                    foreach (var d in p.Data) yield return d.Value;
                    foreach (var a in p.Actions)
                    {
                        yield return a.Id;
                        if (!ReferenceEquals(a.Id, a.Title)) yield return a.Title;
                    }

                    break;
            }
        }

        private sealed class Scope
        {
            public static readonly Scope Outputs = new Scope("outputs", null, null);

            private Scope(string description, Notification? notification, FlowStep? step, bool isFixed = false)
            {
                Description = description;
                Notification = notification;
                Step = step;
                IsFixed = isFixed;
            }

            /// <summary>Fields resolved once at start-up: only env and ensemble bindings are allowed.</summary>
            public bool IsFixed { get; }

            public static Scope ForFixedFields(Notification n) => new Scope($"the url, secret or headers of {n.TypeName} notification #{n.Index + 1}", n, null, isFixed: true);

            public string Description { get; }
            public Notification? Notification { get; }
            public FlowStep? Step { get; }

            public static Scope ForNotification(Notification n) => new Scope($"{n.TypeName} notification #{n.Index + 1}", n, null);

            public static Scope ForStep(FlowStep s) => new Scope(s.StepName is null ? $"flow step #{s.Index + 1}" : $"flow step '{s.StepName}'", null, s);
        }

        private sealed class BindingChecker
        {
            private readonly EnsembleDefinition _ensemble;
            private readonly Dictionary<string, int> _steps;
            private readonly List<EnsembleDiagnostic> _diagnostics;
            private readonly BindingTypes _types;

            public BindingChecker(EnsembleDefinition ensemble, Dictionary<string, int> steps, List<EnsembleDiagnostic> diagnostics, BindingTypes types)
            {
                _ensemble = ensemble;
                _steps = steps;
                _diagnostics = diagnostics;
                _types = types;
            }

            public void Check(Template template, Scope scope, bool isCondition = false)
            {
                foreach (var part in template.Parts)
                {
                    if (part is ExpressionPart expression)
                    {
                        ExpressionWalker.VisitPaths(expression.Expression, path => CheckPath(path, scope));
                        var where = isCondition ? $"the condition of flow step '{scope.Step!.StepName}'" : $"a binding in {scope.Description}";
                        ConditionTypes.Check(_ensemble, expression.Expression, scope.Step, scope.Notification, where, _diagnostics);
                    }
                }
            }

            private void CheckPath(PathExpression path, Scope scope)
            {
                var segments = path.Segments;
                var root = segments[0].Name;
                if (scope.IsFixed && root != "env" && root != "ensemble")
                {
                    Error(path, $"'{path.Text}' changes with every event, but {scope.Description} are set once at start-up; bind them only to ${{env.NAME}} or ${{ensemble.name}} and put event data in the body");
                    return;
                }

                switch (root)
                {
                    case "event":
                    case "timestamp":
                        RequireNotification(path, scope);
                        if (segments.Count > 1) Error(path, $"'{root}' is a single value and has no field '{segments[1]}'; write ${{{root}}}");
                        return;
                    case "ensemble":
                        if (segments.Count != 2 || segments[1].Name != "name")
                        {
                            Error(path, "'ensemble' offers only 'name'; write ${ensemble.name}");
                        }

                        return;
                    case "data":
                        if (RequireNotification(path, scope) && CheckData(path, scope.Notification!)) _types.OfPath(path, null, scope.Notification);
                        return;
                    case "env":
                        if (segments.Count != 2 || segments[1].Index is not null || !EnvironmentName.IsMatch(segments[1].Name))
                        {
                            Error(path, "write an environment binding as ${env.NAME}, with one name of letters, digits and '_'");
                        }

                        return;
                    case "input":
                        // Checked against the declared input (CND0016), or reported as unchecked (CND0018).
                        _types.OfPath(path, scope.Step, null);
                        return;
                    case "previous":
                        if (scope.Step is null || scope.Step.Index == 0)
                        {
                            Error(path, scope.Step is null
                                ? $"'previous' is only available in flow steps, not in {scope.Description}; name the step instead, as in ${{step-name.output}}"
                                : "'previous' refers to the step before, but this is the first step of the flow");
                        }
                        else if (segments.Count < 2 || segments[1].Name != "output")
                        {
                            Error(path, "write ${previous.output} or ${previous.output.<field>}");
                        }
                        else
                        {
                            _types.OfPath(path, scope.Step, null);
                        }

                        return;
                }

                if (_steps.TryGetValue(root, out var stepIndex))
                {
                    CheckStepReference(path, scope, root, stepIndex);
                    return;
                }

                var candidates = FixedRoots.Concat(_steps.Keys).ToList();
                var hint = Suggestions.DidYouMean(root, candidates);
                var stepList = _steps.Count == 0 ? "the flow has no steps" : "steps: " + string.Join(", ", _steps.Keys);
                Error(path, $"unknown binding '{path.Text}' in {scope.Description}: '{root}' is neither a binding root (event, timestamp, ensemble.name, data, env, input, previous) nor a step of the flow ({stepList}){hint}");
            }

            private void CheckStepReference(PathExpression path, Scope scope, string step, int stepIndex)
            {
                var segments = path.Segments;
                if (segments.Count < 2 || (segments[1].Name != "output" && segments[1].Name != "executed"))
                {
                    Error(path, $"a step binding reads '{step}.output' or '{step}.executed', not '{path.Text}'");
                    return;
                }

                if (segments[1].Name == "executed" && segments.Count > 2)
                {
                    Error(path, $"'{step}.executed' is true or false and has no fields");
                    return;
                }

                if (scope.Step is not null && stepIndex >= scope.Step.Index)
                {
                    Error(path, stepIndex == scope.Step.Index
                        ? $"{scope.Description} cannot read its own result '{path.Text}'"
                        : $"{scope.Description} reads '{path.Text}', but step '{step}' runs after it; move the step earlier or bind to an earlier step");
                    return;
                }

                if (segments[1].Name == "output") _types.OfPath(path, scope.Step, null);
            }

            private bool RequireNotification(PathExpression path, Scope scope)
            {
                if (scope.Notification is not null) return true;
                Error(path, $"'{path.Segments[0].Name}' is only available in notifications (it describes the event being sent), not in {scope.Description}");
                return false;
            }

            /// <summary>Checks the data field; true when every subscribed event carries it (its members are then checked by shape).</summary>
            private bool CheckData(PathExpression path, Notification notification)
            {
                var segments = path.Segments;
                if (segments.Count < 2) return false;
                var field = segments[1].Name;
                var missing = new List<EventInfo>();
                var carriers = new List<EventInfo>();
                foreach (var name in notification.Events)
                {
                    var info = EventCatalog.Find(name.Value);
                    if (info is null) continue;
                    if (info.DataFields.Contains(field)) carriers.Add(info);
                    else if (!missing.Contains(info)) missing.Add(info);
                }

                if (missing.Count > 0)
                {
                    var detail = string.Join("; ", missing.Select(e => $"{e.Name} carries {string.Join(", ", e.DataFields)}"));
                    var suggestion = string.Empty;
                    var outputKeys = _ensemble.Outputs.Select(o => o.Key.Value).ToList();
                    var typo = Suggestions.Closest(field, missing.Concat(carriers).SelectMany(e => e.DataFields).Distinct());
                    if (typo is not null && typo != field && !outputKeys.Contains(field))
                    {
                        suggestion = $"; did you mean 'data.{typo}'?";
                    }
                    else if (missing.Any(e => e.DataFields.Contains("output")) || carriers.Any(e => e.DataFields.Contains("output")) || missing.Any(e => e.Name == EventCatalog.ExecutionFailed))
                    {
                        suggestion = outputKeys.Contains(field)
                            ? $"; did you mean 'data.output.{field}'?"
                            : $"; values computed by the ensemble are under data.output.<key>{(outputKeys.Count > 0 ? " (outputs: " + string.Join(", ", outputKeys) + ")" : string.Empty)}";
                    }
                    else
                    {
                        var close = Suggestions.Closest(field, missing.SelectMany(e => e.DataFields).Distinct());
                        if (close is not null) suggestion = $"; did you mean 'data.{close}'?";
                    }

                    Warning(path, $"'data.{field}' is not carried by {string.Join(" or ", missing.Select(e => e.Name))} and renders empty for {(missing.Count == 1 ? "it" : "them")} ({detail}){suggestion}");
                    return false;
                }

                if (segments.Count < 3) return true;
                var sub = segments[2].Name;
                if (field == "error" && !EventCatalog.ErrorFields.Contains(sub))
                {
                    Warning(path, $"'data.error.{sub}' does not exist; data.error carries {string.Join(", ", EventCatalog.ErrorFields)}{Suggestions.DidYouMean(sub, EventCatalog.ErrorFields)}");
                    return false;
                }

                return true;
            }

            private void Error(PathExpression path, string message) =>
                _diagnostics.Add(new EnsembleDiagnostic(DiagnosticIds.UnknownBinding, Severity.Error, message, _ensemble.FilePath, path.Span));

            private void Warning(PathExpression path, string message) =>
                _diagnostics.Add(new EnsembleDiagnostic(DiagnosticIds.UnknownBinding, Severity.Warning, message, _ensemble.FilePath, path.Span));
        }
    }
}
