using System;
using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;

namespace Conductor.Sdk.Model.Validation
{
    /// <summary>
    /// The type of a binding: its declared shape (null when it cannot be known: undeclared data, <c>json</c>, state)
    /// and whether it can be absent at run time (an optional field, a list index, a step that a condition may skip).
    /// </summary>
    public sealed record BindingType(Shape? Shape, bool Nullable)
    {
        /// <summary>A value nothing is known about.</summary>
        public static readonly BindingType Unknown = new BindingType(null, true);

        /// <summary>Always text (<c>${event}</c>, <c>${env.X}</c>, a template with literal parts).</summary>
        public static readonly BindingType Text = new BindingType(Model.Shape.Scalar(ShapeKind.String, default), false);

        /// <summary>Always true or false (<c>${step.executed}</c>, a comparison).</summary>
        public static readonly BindingType Bool = new BindingType(Model.Shape.Scalar(ShapeKind.Bool, default), false);

        /// <summary>A whole number carried by an event (<c>data.duration</c>).</summary>
        public static readonly BindingType Long = new BindingType(Model.Shape.Scalar(ShapeKind.Long, default), false);
    }

    /// <summary>
    /// Resolves bindings against the shapes an ensemble declares (DESIGN.md section 4a): <c>input</c>, agent steps'
    /// <c>output</c>, operation steps' fixed output, <c>previous.output</c> and <c>data.output</c>. The validator
    /// reports what cannot be resolved; the emitter asks the same questions to type the generated <c>Output</c> record.
    /// </summary>
    public sealed class BindingTypes
    {
        /// <summary>The output every operation step produces: the ids of the deliveries it stored.</summary>
        public static readonly Shape OperationOutput = new Shape(ShapeKind.Object, new[]
        {
            new ShapeField(new LocatedString("deliveryId", default), Shape.Scalar(ShapeKind.String, default), false),
            new ShapeField(new LocatedString("deliveryIds", default), new Shape(ShapeKind.Array, EquatableArray<ShapeField>.Empty, EquatableArray<string>.Empty, Shape.Scalar(ShapeKind.String, default), default), true),
        }.ToEquatableArray(), EquatableArray<string>.Empty, null, default);

        private readonly EnsembleDefinition _ensemble;
        private readonly Action<EnsembleDiagnostic>? _report;
        private Shape? _outputShape;

        /// <summary>Creates a resolver; <paramref name="report"/> receives CND0016/CND0018 diagnostics (null: resolve silently).</summary>
        public BindingTypes(EnsembleDefinition ensemble, Action<EnsembleDiagnostic>? report = null)
        {
            _ensemble = ensemble;
            _report = report;
        }

        /// <summary>The declared output of an agent step (or of another step running the same agent), the fixed output of an operation step, else null.</summary>
        public static Shape? StepOutput(EnsembleDefinition ensemble, FlowStep step)
        {
            if (step.Operation is not null) return OperationOutput;
            if (step.Output is not null) return step.Output;
            if (step.Agent is null) return null;
            foreach (var other in ensemble.Flow)
            {
                if (other.Agent?.Value == step.Agent.Value && other.Output is not null) return other.Output;
            }

            return null;
        }

        /// <summary>The step a binding root names, or null.</summary>
        private FlowStep? Step(string name)
        {
            foreach (var step in _ensemble.Flow)
            {
                if (step.StepName == name) return step;
            }

            return null;
        }

        /// <summary>The shape of <c>data.output</c> on execution.completed: the <c>outputs:</c> keys with their binding types.</summary>
        public Shape OutputShape
        {
            get
            {
                if (_outputShape is not null) return _outputShape;
                var silent = new BindingTypes(_ensemble);
                var fields = _ensemble.Outputs.Select(o =>
                {
                    var type = silent.OfTemplate(o.Value, null);
                    return new ShapeField(o.Key, type.Shape ?? Shape.Scalar(ShapeKind.Json, o.Key.Span), type.Nullable);
                });
                return _outputShape = new Shape(ShapeKind.Object, fields.ToEquatableArray(), EquatableArray<string>.Empty, null, _ensemble.Span);
            }
        }

        /// <summary>The type of a whole template: the binding's type when it is one binding, else text.</summary>
        public BindingType OfTemplate(Template template, FlowStep? scope)
        {
            if (template.SingleExpression is Expression expression) return Of(expression, scope, null);
            return BindingType.Text;
        }

        /// <summary>The type of an expression (comparisons and <c>!</c> are bool).</summary>
        public BindingType Of(Expression expression, FlowStep? scope, Notification? notification)
        {
            switch (expression)
            {
                case PathExpression path: return OfPath(path, scope, notification);
                case LiteralExpression literal:
                    return literal.Kind switch
                    {
                        LiteralKind.String => BindingType.Text,
                        LiteralKind.Number => new BindingType(Shape.Scalar(ShapeKind.Number, literal.Span), false),
                        LiteralKind.Boolean => BindingType.Bool,
                        _ => BindingType.Unknown,
                    };
                case UnaryExpression _:
                case BinaryExpression _:
                    return BindingType.Bool;
                default:
                    return BindingType.Unknown;
            }
        }

        /// <summary>The type of a path, reporting unknown members (CND0016) and undeclared data (CND0018) when asked to.</summary>
        public BindingType OfPath(PathExpression path, FlowStep? scope, Notification? notification)
        {
            var segments = path.Segments;
            var root = segments[0].Name;
            switch (root)
            {
                case "event":
                case "timestamp":
                case "ensemble":
                case "env":
                    return BindingType.Text;
                case "input":
                    if (_ensemble.Input is null)
                    {
                        Undeclared(path, "the ensemble's input", "declare it with 'input:' at the top of the file, for example input: {" + FieldHint(path, 1) + ": string} (types: docs/types.md)");
                        return BindingType.Unknown;
                    }

                    return Navigate(_ensemble.Input, false, path, 1, "input");
                case "previous":
                    var previous = PreviousOf(scope);
                    if (previous is null || segments.Count < 2 || segments[1].Name != "output") return BindingType.Unknown;
                    return OfStepOutput(previous, path, 2, "previous.output");
                case "data":
                    return notification is null ? BindingType.Unknown : OfData(path, notification);
            }

            var step = Step(root);
            if (step is null || segments.Count < 2) return BindingType.Unknown;
            if (segments[1].Name == "executed") return BindingType.Bool;
            if (segments[1].Name != "output") return BindingType.Unknown;
            return OfStepOutput(step, path, 2, root + ".output");
        }

        private FlowStep? PreviousOf(FlowStep? scope)
        {
            if (scope is null) return null;
            FlowStep? previous = null;
            foreach (var step in _ensemble.Flow)
            {
                if (ReferenceEquals(step, scope) || step.Index == scope.Index) return previous;
                previous = step;
            }

            return null;
        }

        private BindingType OfStepOutput(FlowStep step, PathExpression path, int start, string prefix)
        {
            var shape = StepOutput(_ensemble, step);
            // A step that a condition can skip has no output in that run.
            var nullable = step.Condition is not null;
            if (shape is null)
            {
                var field = FieldHint(path, start);
                Undeclared(path, $"the output of step '{step.StepName}'",
                    $"declare it with 'output:' on step '{step.StepName}', for example output: {{{field}: string}} (types: docs/types.md)");
                return BindingType.Unknown;
            }

            return Navigate(shape, nullable, path, start, prefix);
        }

        private BindingType OfData(PathExpression path, Notification notification)
        {
            var segments = path.Segments;
            if (segments.Count < 2) return BindingType.Unknown;
            var field = segments[1].Name;
            switch (field)
            {
                case "ensemble":
                case "id":
                case "executionId":
                case "agent":
                case "status":
                    return segments.Count == 2 ? BindingType.Text : BindingType.Unknown;
                case "duration":
                case "timeout":
                    return segments.Count == 2 ? BindingType.Long : BindingType.Unknown;
                case "error":
                    return BindingType.Text;
                case "input":
                    return _ensemble.Input is null ? BindingType.Unknown : Navigate(_ensemble.Input, true, path, 2, "data.input");
                case "output":
                    return OfDataOutput(path, notification);
                default:
                    return BindingType.Unknown;
            }
        }

        /// <summary>
        /// <c>data.output</c> is the ensemble's <c>outputs:</c> on execution.completed and the agent's output on
        /// agent.completed. A member is an error only when every possible source is known and none has it.
        /// </summary>
        private BindingType OfDataOutput(PathExpression path, Notification notification)
        {
            var sources = new List<(Shape Shape, string Name)>();
            var unknown = false;
            var undeclared = new List<string>();
            foreach (var e in notification.Events)
            {
                if (e.Value == EventCatalog.ExecutionCompleted)
                {
                    sources.Add((OutputShape, "the ensemble's outputs"));
                }
                else if (e.Value == EventCatalog.AgentCompleted)
                {
                    foreach (var step in _ensemble.Flow)
                    {
                        if (step.Agent is null) continue;
                        var shape = StepOutput(_ensemble, step);
                        if (shape is null)
                        {
                            unknown = true;
                            if (!undeclared.Contains(step.Agent.Value)) undeclared.Add(step.Agent.Value);
                        }
                        else sources.Add((shape, $"the output of agent '{step.Agent.Value}'"));
                    }
                }
            }

            if ((sources.Count == 0 && !unknown) || path.Segments.Count < 3) return BindingType.Unknown;
            if (sources.Count == 1 && !unknown) return Navigate(sources[0].Shape, true, path, 2, "data.output");

            // Several sources: resolve silently in each; report only when every source is known and none has the member.
            foreach (var (shape, _) in sources)
            {
                var probe = new List<EnsembleDiagnostic>();
                var resolver = new BindingTypes(_ensemble, probe.Add);
                resolver.Navigate(shape, true, path, 2, "data.output");
                if (probe.Count == 0) return BindingType.Unknown;
            }

            if (unknown)
            {
                // Never silence: on agent.completed the member may come from an agent whose output is not declared.
                Report(DiagnosticIds.UndeclaredShape, Severity.Warning, path.Span,
                    $"'{path.Text}' reads data.output of agent.completed, which is the output of agent {string.Join(" or ", undeclared.Select(a => "'" + a + "'"))}, whose shape is not declared, so the build cannot check it and a typo would render empty; declare 'output:' on {(undeclared.Count == 1 ? "that step" : "those steps")}, for example output: {{{path.Segments[2].Name}: string}} (types: docs/types.md)");
            }
            else
            {
                var segment = path.Segments[2];
                var keys = sources.SelectMany(s => s.Shape.Fields.Select(f => f.Key.Value)).Distinct().ToList();
                Report(DiagnosticIds.UnknownMember, Severity.Error, segment.Span,
                    $"'data.output.{segment.Name}' is in none of {string.Join(" or ", sources.Select(s => s.Name))} (fields: {string.Join(", ", keys)}){Suggestions.DidYouMean(segment.Name, keys)}");
            }

            return BindingType.Unknown;
        }

        private BindingType Navigate(Shape shape, bool nullable, PathExpression path, int start, string prefix)
        {
            var segments = path.Segments;
            var described = prefix;
            for (var i = start; i < segments.Count; i++)
            {
                var segment = segments[i];
                if (shape.Kind == ShapeKind.Json) return BindingType.Unknown;
                var isIndex = segment.Index is not null || IsDigits(segment.Name);
                if (shape.Kind == ShapeKind.Array && isIndex)
                {
                    shape = shape.Element!;
                    nullable = true;
                    described += "[" + segment.Name + "]";
                    continue;
                }

                if (shape.Kind == ShapeKind.Object && !isIndex)
                {
                    var field = shape.Field(segment.Name);
                    if (field is null)
                    {
                        var keys = shape.Fields.Select(f => f.Key.Value).ToList();
                        var hint = Suggestions.DidYouMean(segment.Name, keys);
                        Report(DiagnosticIds.UnknownMember, Severity.Error, segment.Span,
                            keys.Count == 0
                                ? $"'{described}' declares no fields, so '{segment.Name}' does not exist; add it to the declaration"
                                : $"'{described}' has no field '{segment.Name}'{hint} (fields: {string.Join(", ", keys)})");
                        return BindingType.Unknown;
                    }

                    shape = field.Type;
                    nullable |= field.Optional;
                    described += "." + segment.Name;
                    continue;
                }

                Report(DiagnosticIds.UnknownMember, Severity.Error, segment.Span,
                    isIndex
                        ? $"'{described}' is {shape.Describe()}, not a list, so it cannot be indexed with [{segment.Name}]"
                        : shape.Kind == ShapeKind.Array
                            ? $"'{described}' is {shape.Describe()}; pick an item first, as in {described}[0].{segment.Name}"
                            : $"'{described}' is {shape.Describe()} and has no field '{segment.Name}'");
                return BindingType.Unknown;
            }

            return new BindingType(shape, nullable);
        }

        private static bool IsDigits(string text)
        {
            if (text.Length == 0) return false;
            foreach (var c in text)
            {
                if (c < '0' || c > '9') return false;
            }

            return true;
        }

        private static string FieldHint(PathExpression path, int start) =>
            path.Segments.Count > start && path.Segments[start].Index is null ? path.Segments[start].Name : "result";

        private void Undeclared(PathExpression path, string what, string how) =>
            Report(DiagnosticIds.UndeclaredShape, Severity.Warning, path.Span,
                $"'{path.Text}' reads {what}, whose shape is not declared, so the build cannot check it and a typo would render empty; {how}");

        private void Report(string id, Severity severity, SourceSpan span, string message) =>
            _report?.Invoke(new EnsembleDiagnostic(id, severity, message, _ensemble.FilePath, span));
    }
}
