using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Conductor.Sdk.Model.Templates;
using Microsoft.CodeAnalysis.CSharp;

namespace Conductor.Sdk.Generators
{
    /// <summary>
    /// Compiles a parsed <c>${...}</c> template to a C# expression over <c>TemplateContext</c>: an interpolated
    /// string (one allocation, the result), with paths as constant arrays. Nothing is parsed at run time.
    /// </summary>
    internal sealed class TemplateCompiler
    {
        private readonly List<string[]> _paths = new List<string[]>();

        /// <summary>The path arrays the compiled expressions refer to as <c>Path{index}</c>.</summary>
        public IReadOnlyList<string[]> Paths => _paths;

        /// <summary>A C# expression of type string for the whole template (context variable <c>ctx</c>).</summary>
        public string Compile(Template template)
        {
            if (template.IsLiteral) return Literal(template.LiteralText);
            if (template.SingleExpression is Expression only) return $"({Expression(only)}).ToString()";
            // Built in a stack buffer sized for the usual result: the only allocation of a render is the resulting
            // string (longer results spill into a pooled buffer).
            var holes = 0;
            foreach (var part in template.Parts)
            {
                if (part is ExpressionPart) holes++;
            }

            var size = System.Math.Min(512, System.Math.Max(32, template.LiteralText.Length + holes * 24));
            var builder = new StringBuilder("string.Create(null, stackalloc char[" + size.ToString(CultureInfo.InvariantCulture) + "], $\"");
            foreach (var part in template.Parts)
            {
                if (part is LiteralPart literal)
                {
                    builder.Append(EscapeInterpolated(literal.Text));
                }
                else if (part is ExpressionPart expression)
                {
                    // Parenthesised: inside a hole, the ':' of 'global::' would start a format specifier.
                    builder.Append("{(").Append(Hole(expression.Expression)).Append(")}");
                }
            }

            return builder.Append("\")").ToString();
        }

        /// <summary>A C# expression of type bool: the truthiness of a <c>condition:</c>.</summary>
        public string CompileCondition(Template template) =>
            template.SingleExpression is Expression only
                ? $"global::Conductor.Sdk.Ensembles.TemplateValues.Truthy({Expression(only)})"
                : $"global::Conductor.Sdk.Ensembles.TemplateValues.Truthy({Compile(template)})";

        /// <summary>A C# expression of type <c>TemplateValue</c> for a whole template (JSON kept as JSON when it is one binding).</summary>
        public string CompileValue(Template template) =>
            template.SingleExpression is Expression only ? Expression(only) : $"{Value}.Text({Compile(template)})";

        private const string Value = "global::Conductor.Sdk.Ensembles.TemplateValue";

        /// <summary>A hole of an interpolated string: text-valued roots go in as plain strings (the cheapest append).</summary>
        private string Hole(Expression expression)
        {
            if (expression is PathExpression path)
            {
                switch (path.Segments[0].Name)
                {
                    case "event": return "ctx.Event";
                    case "ensemble": return "ctx.Ensemble";
                    case "env": return $"ctx.Env({Literal(path.Segments[1].Name)})";
                }
            }

            return Expression(expression);
        }

        /// <summary>A C# expression of type <c>TemplateValue</c>: formatted in place inside interpolated strings.</summary>
        private string Expression(Expression expression)
        {
            switch (expression)
            {
                case PathExpression path:
                    return Path(path);
                case LiteralExpression literal:
                    return $"{Value}.Text({Literal(literal.Kind == LiteralKind.Null ? string.Empty : literal.Value)})";
                case UnaryExpression unary:
                    return $"global::Conductor.Sdk.Ensembles.TemplateValues.Text(!global::Conductor.Sdk.Ensembles.TemplateValues.Truthy({Expression(unary.Operand)}))";
                case BinaryExpression binary:
                    var left = Expression(binary.Left);
                    var right = Expression(binary.Right);
                    const string Values = "global::Conductor.Sdk.Ensembles.TemplateValues";
                    switch (binary.Operator)
                    {
                        case BinaryOperator.Equal: return $"{Values}.Text({Values}.Equal({left}, {right}))";
                        case BinaryOperator.NotEqual: return $"{Values}.Text(!{Values}.Equal({left}, {right}))";
                        case BinaryOperator.LessThan: return $"{Values}.Text({Values}.Compare({left}, {right}) < 0)";
                        case BinaryOperator.LessThanOrEqual: return $"{Values}.Text({Values}.Compare({left}, {right}) <= 0)";
                        case BinaryOperator.GreaterThan: return $"{Values}.Text({Values}.Compare({left}, {right}) > 0)";
                        case BinaryOperator.GreaterThanOrEqual: return $"{Values}.Text({Values}.Compare({left}, {right}) >= 0)";
                        case BinaryOperator.And: return $"{Values}.Text({Values}.Truthy({left}) && {Values}.Truthy({right}))";
                        default: return $"{Values}.Text({Values}.Truthy({left}) || {Values}.Truthy({right}))";
                    }

                default:
                    return $"{Value}.Empty";
            }
        }

        private string Path(PathExpression path)
        {
            var segments = path.Segments;
            switch (segments[0].Name)
            {
                case "event": return $"{Value}.Text(ctx.Event)";
                case "timestamp": return "ctx.Timestamp";
                case "ensemble": return $"{Value}.Text(ctx.Ensemble)";
                case "env": return $"{Value}.Text(ctx.Env({Literal(segments[1].Name)}))";
                case "data": return segments.Count == 1 ? $"{Value}.Empty" : $"ctx.Data({PathField(segments, 1)})";
                case "input": return $"ctx.Input({PathField(segments, 1)})";
                case "previous":
                    return segments.Count >= 2 && segments[1].Name == "output" ? $"ctx.Previous({PathField(segments, 2)})" : $"{Value}.Empty";
                default:
                    // Step results exist only while the flow runs (the runner's context); a notification rendered
                    // for a stored event reads them as empty.
                    if (segments.Count >= 2 && segments[1].Name == "executed")
                    {
                        return $"global::Conductor.Sdk.Ensembles.TemplateValues.Text(ctx.Executed({Literal(segments[0].Name)}))";
                    }

                    return segments.Count >= 2 && segments[1].Name == "output"
                        ? $"ctx.Step({Literal(segments[0].Name)}, {PathField(segments, 2)})"
                        : $"{Value}.Empty";
            }
        }

        private string PathField(Model.EquatableArray<PathSegment> segments, int start)
        {
            var names = new string[segments.Count - start];
            for (var i = start; i < segments.Count; i++) names[i - start] = segments[i].Name;
            for (var i = 0; i < _paths.Count; i++)
            {
                if (SameSegments(_paths[i], names)) return "Path" + i.ToString(CultureInfo.InvariantCulture);
            }

            _paths.Add(names);
            return "Path" + (_paths.Count - 1).ToString(CultureInfo.InvariantCulture);
        }

        private static bool SameSegments(string[] a, string[] b)
        {
            if (a.Length != b.Length) return false;
            for (var i = 0; i < a.Length; i++)
            {
                if (a[i] != b[i]) return false;
            }

            return true;
        }

        public static string Literal(string value) => SymbolDisplay.FormatLiteral(value, quote: true);

        private static string EscapeInterpolated(string text)
        {
            var quoted = SymbolDisplay.FormatLiteral(text, quote: false);
            return quoted.Replace("{", "{{").Replace("}", "}}");
        }
    }
}
