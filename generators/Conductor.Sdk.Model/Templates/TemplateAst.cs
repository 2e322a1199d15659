using System;
using System.Text;

namespace Conductor.Sdk.Model.Templates
{
    /// <summary>
    /// A YAML value that may contain <c>${...}</c> bindings, parsed into literal and expression parts.
    /// The generator compiles it to C#; nothing is parsed at run time.
    /// </summary>
    public sealed record Template(string Raw, EquatableArray<TemplatePart> Parts, SourceSpan Span)
    {
        /// <summary>True when the value has no binding at all.</summary>
        public bool IsLiteral
        {
            get
            {
                foreach (var part in Parts)
                {
                    if (part is ExpressionPart) return false;
                }

                return true;
            }
        }

        /// <summary>The single expression when the whole value is one <c>${...}</c>, otherwise null.</summary>
        public Expression? SingleExpression => Parts.Count == 1 && Parts[0] is ExpressionPart e ? e.Expression : null;

        /// <summary>The variable name when the whole value is exactly <c>${env.NAME}</c>.</summary>
        public string? EnvironmentVariable =>
            SingleExpression is PathExpression path && path.Segments.Count == 2 && path.Segments[0].Name == "env"
                ? path.Segments[1].Name
                : null;

        /// <summary>True when the template has bindings and every one is <c>${env.NAME}</c>: its value is known from configuration alone.</summary>
        public bool ReadsOnlyConfiguration
        {
            get
            {
                var any = false;
                foreach (var part in Parts)
                {
                    if (part is not ExpressionPart expression) continue;
                    if (expression.Expression is not PathExpression path || path.Segments.Count != 2 || path.Segments[0].Name != "env") return false;
                    any = true;
                }

                return any;
            }
        }

        /// <summary>The literal text with every binding removed; used for length checks.</summary>
        public string LiteralText
        {
            get
            {
                var builder = new StringBuilder();
                foreach (var part in Parts)
                {
                    if (part is LiteralPart literal) builder.Append(literal.Text);
                }

                return builder.ToString();
            }
        }
    }

    /// <summary>A piece of a template.</summary>
    public abstract record TemplatePart(SourceSpan Span);

    /// <summary>Text copied as written.</summary>
    public sealed record LiteralPart(string Text, SourceSpan Span) : TemplatePart(Span);

    /// <summary>A <c>${...}</c> binding; <see cref="Source"/> is the text between the braces.</summary>
    public sealed record ExpressionPart(Expression Expression, string Source, SourceSpan Span) : TemplatePart(Span);

    /// <summary>A node of a binding or condition expression.</summary>
    public abstract record Expression(SourceSpan Span);

    /// <summary>One step of a path: a name (<c>.status</c>) or an index (<c>[0]</c>).</summary>
    public sealed record PathSegment(string Name, int? Index, SourceSpan Span)
    {
        /// <inheritdoc />
        public override string ToString() => Index is int i ? "[" + i + "]" : Name;
    }

    /// <summary>A dotted path such as <c>check-health.output.status</c>.</summary>
    public sealed record PathExpression(EquatableArray<PathSegment> Segments, SourceSpan Span) : Expression(Span)
    {
        /// <summary>The path as written, segments joined with dots.</summary>
        public string Text
        {
            get
            {
                var builder = new StringBuilder();
                foreach (var segment in Segments)
                {
                    if (segment.Index is int index)
                    {
                        builder.Append('[').Append(index).Append(']');
                    }
                    else
                    {
                        if (builder.Length > 0) builder.Append('.');
                        builder.Append(segment.Name);
                    }
                }

                return builder.ToString();
            }
        }
    }

    /// <summary>The kind of a literal.</summary>
    public enum LiteralKind
    {
        /// <summary>A quoted string.</summary>
        String,
        /// <summary>A decimal number.</summary>
        Number,
        /// <summary><c>true</c> or <c>false</c>.</summary>
        Boolean,
        /// <summary><c>null</c>.</summary>
        Null,
    }

    /// <summary>A literal: <c>'critical'</c>, <c>3</c>, <c>true</c>, <c>null</c>. <see cref="Value"/> is its text (unquoted).</summary>
    public sealed record LiteralExpression(LiteralKind Kind, string Value, SourceSpan Span) : Expression(Span);

    /// <summary>A prefix operator.</summary>
    public enum UnaryOperator
    {
        /// <summary><c>!</c></summary>
        Not,
    }

    /// <summary><c>!operand</c>.</summary>
    public sealed record UnaryExpression(UnaryOperator Operator, Expression Operand, SourceSpan Span) : Expression(Span);

    /// <summary>An infix operator.</summary>
    public enum BinaryOperator
    {
        /// <summary><c>==</c></summary>
        Equal,
        /// <summary><c>!=</c></summary>
        NotEqual,
        /// <summary><c>&lt;</c></summary>
        LessThan,
        /// <summary><c>&lt;=</c></summary>
        LessThanOrEqual,
        /// <summary><c>&gt;</c></summary>
        GreaterThan,
        /// <summary><c>&gt;=</c></summary>
        GreaterThanOrEqual,
        /// <summary><c>&amp;&amp;</c></summary>
        And,
        /// <summary><c>||</c></summary>
        Or,
    }

    /// <summary><c>left op right</c>.</summary>
    public sealed record BinaryExpression(BinaryOperator Operator, Expression Left, Expression Right, SourceSpan Span) : Expression(Span);

    /// <summary>Visits every path in an expression tree.</summary>
    public static class ExpressionWalker
    {
        /// <summary>Calls <paramref name="visit"/> for each path expression, left to right.</summary>
        public static void VisitPaths(Expression expression, Action<PathExpression> visit)
        {
            switch (expression)
            {
                case PathExpression path:
                    visit(path);
                    break;
                case UnaryExpression unary:
                    VisitPaths(unary.Operand, visit);
                    break;
                case BinaryExpression binary:
                    VisitPaths(binary.Left, visit);
                    VisitPaths(binary.Right, visit);
                    break;
            }
        }
    }
}
