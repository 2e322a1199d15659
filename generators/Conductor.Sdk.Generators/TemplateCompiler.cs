using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model.Templates;
using Microsoft.CodeAnalysis.CSharp;

namespace Conductor.Sdk.Generators
{
    /// <summary>
    /// Compiles a parsed <c>${...}</c> template to a table the runtime renders: literal text and
    /// <c>Bind.Input("orderId")</c>-style nodes, built once when the generated class loads. Nothing is parsed at run time,
    /// and the generated file shows each binding as it is written in the YAML. Tables rather than one method per
    /// template: the compiler binds a table far faster than a method body (issue #17, docs in the benchmarks README).
    /// </summary>
    internal static class TemplateCompiler
    {
        /// <summary>The alias generated files declare for <c>Conductor.Sdk.Ensembles.Bind</c>.</summary>
        public const string Bind = "Bind";

        /// <summary>A <c>CompiledTemplate</c> expression: the YAML source and its parts.</summary>
        public static string Compile(Template template) => template.IsLiteral
            ? $"{Bind}.Literal({Literal(template.LiteralText)})"
            : $"{Bind}.Template({Literal(template.Raw)}{string.Concat(Parts(template).Select(p => ", " + p))})";

        /// <summary>A <c>FlowCondition</c> expression for a <c>condition:</c>.</summary>
        public static string CompileCondition(Template template) => $"{Bind}.Condition({string.Join(", ", Parts(template))})";

        /// <summary>A <c>TemplateNode</c> expression for a whole template: one binding stays a binding (JSON kept as JSON).</summary>
        public static string CompileValue(Template template)
        {
            if (template.SingleExpression is Expression only) return Expression(only);
            if (template.IsLiteral) return Literal(template.LiteralText);
            return $"{Bind}.Text({string.Join(", ", Parts(template))})";
        }

        /// <summary>
        /// A C# string expression for a value rendered once at start-up, where only <c>${env.NAME}</c> (and the ensemble's
        /// name) have values: a literal, <c>ctx.Env("NAME")</c>, or a string concatenation of them.
        /// </summary>
        public static string CompileStartup(Template template)
        {
            if (template.IsLiteral) return Literal(template.LiteralText);
            var pieces = new List<string>();
            foreach (var part in template.Parts)
            {
                if (part is LiteralPart literal) pieces.Add(Literal(literal.Text));
                else if (part is ExpressionPart { Expression: PathExpression path } && path.Segments[0].Name == "env" && path.Segments.Count == 2) pieces.Add($"ctx.Env({Literal(path.Segments[1].Name)})");
                else if (part is ExpressionPart expression) pieces.Add($"{Expression(expression.Expression)}.Evaluate(ctx).ToString()");
            }

            return pieces.Count == 1 && pieces[0].StartsWith("ctx.", System.StringComparison.Ordinal) ? pieces[0] : "string.Concat(" + string.Join(", ", pieces.Count == 1 ? pieces.Append("\"\"") : pieces) + ")";
        }

        private static IEnumerable<string> Parts(Template template)
        {
            foreach (var part in template.Parts)
            {
                if (part is LiteralPart literal) yield return Literal(literal.Text);
                else if (part is ExpressionPart expression) yield return Expression(expression.Expression);
            }
        }

        /// <summary>A C# expression of type <c>TemplateNode</c>.</summary>
        private static string Expression(Expression expression)
        {
            switch (expression)
            {
                case PathExpression path:
                    return Path(path);
                case LiteralExpression literal:
                    return Literal(literal.Kind == LiteralKind.Null ? string.Empty : literal.Value);
                case UnaryExpression unary:
                    return $"{Bind}.Not({Expression(unary.Operand)})";
                case BinaryExpression binary:
                    return $"{Bind}.{Operator(binary.Operator)}({Expression(binary.Left)}, {Expression(binary.Right)})";
                default:
                    return $"{Bind}.Empty";
            }
        }

        private static string Operator(BinaryOperator op)
        {
            switch (op)
            {
                case BinaryOperator.Equal: return "Equal";
                case BinaryOperator.NotEqual: return "NotEqual";
                case BinaryOperator.LessThan: return "Less";
                case BinaryOperator.LessThanOrEqual: return "LessOrEqual";
                case BinaryOperator.GreaterThan: return "Greater";
                case BinaryOperator.GreaterThanOrEqual: return "GreaterOrEqual";
                case BinaryOperator.And: return "And";
                default: return "Or";
            }
        }

        private static string Path(PathExpression path)
        {
            var segments = path.Segments;
            switch (segments[0].Name)
            {
                case "event": return $"{Bind}.Event";
                case "timestamp": return $"{Bind}.Timestamp";
                case "ensemble": return $"{Bind}.Ensemble";
                case "env": return $"{Bind}.Env({Literal(segments[1].Name)})";
                case "data": return segments.Count == 1 ? $"{Bind}.Empty" : $"{Bind}.Data({Names(segments, 1)})";
                case "input": return $"{Bind}.Input({Names(segments, 1)})";
                case "previous":
                    return segments.Count >= 2 && segments[1].Name == "output" ? $"{Bind}.Previous({Names(segments, 2)})" : $"{Bind}.Empty";
                default:
                    // Step results exist only while the flow runs (the runner's context); a notification rendered
                    // for a stored event reads them as empty.
                    if (segments.Count >= 2 && segments[1].Name == "executed") return $"{Bind}.Executed({Literal(segments[0].Name)})";
                    return segments.Count >= 2 && segments[1].Name == "output"
                        ? $"{Bind}.Step({Literal(segments[0].Name)}{(segments.Count > 2 ? ", " + Names(segments, 2) : string.Empty)})"
                        : $"{Bind}.Empty";
            }
        }

        private static string Names(Model.EquatableArray<PathSegment> segments, int start)
        {
            var names = new List<string>();
            for (var i = start; i < segments.Count; i++) names.Add(Literal(segments[i].Name));
            return string.Join(", ", names);
        }

        public static string Literal(string value) => SymbolDisplay.FormatLiteral(value, quote: true);
    }
}
