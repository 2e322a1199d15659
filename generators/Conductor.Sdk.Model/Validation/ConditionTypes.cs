using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;

namespace Conductor.Sdk.Model.Validation
{
    /// <summary>
    /// Type-checks the comparisons of a binding (CND0017) — a step's <c>condition:</c> or any <c>${a == b}</c> in a
    /// template: both sides must be able to match, given the declared shapes. Operands whose type is unknown
    /// (undeclared data, <c>json</c>, <c>null</c>) are not checked.
    /// </summary>
    public static class ConditionTypes
    {
        private enum Category { Unknown, Text, Number, Bool, DateTime, Enum, Structured }

        /// <summary>
        /// Adds a CND0017 diagnostic for every comparison of incompatible types in <paramref name="condition"/>, read in
        /// <paramref name="step"/> or <paramref name="notification"/>; messages start with <paramref name="where"/>.
        /// </summary>
        public static void Check(EnsembleDefinition ensemble, Expression condition, FlowStep? step, Notification? notification, string where, List<EnsembleDiagnostic> diagnostics)
        {
            var types = new BindingTypes(ensemble); // members were reported by the binding check already
            Visit(condition);

            void Visit(Expression expression)
            {
                switch (expression)
                {
                    case UnaryExpression unary:
                        Visit(unary.Operand);
                        break;
                    case BinaryExpression binary:
                        Visit(binary.Left);
                        Visit(binary.Right);
                        if (binary.Operator != BinaryOperator.And && binary.Operator != BinaryOperator.Or) Compare(binary);
                        break;
                }
            }

            void Compare(BinaryExpression binary)
            {
                var left = types.Of(binary.Left, step, notification);
                var right = types.Of(binary.Right, step, notification);
                var a = CategoryOf(left, binary.Left);
                var b = CategoryOf(right, binary.Right);
                if (a == Category.Unknown || b == Category.Unknown) return;
                var ordering = binary.Operator != BinaryOperator.Equal && binary.Operator != BinaryOperator.NotEqual;
                string? problem = null;
                if (a == Category.Structured || b == Category.Structured)
                {
                    problem = "a list or an object cannot be compared; compare one of its fields";
                }
                else if (a == Category.Enum && binary.Right is LiteralExpression { Kind: LiteralKind.String } r && !left.Shape!.Values.Contains(r.Value))
                {
                    problem = $"'{r.Value}' is not one of its values [{string.Join(", ", left.Shape.Values)}], so this is never equal";
                }
                else if (b == Category.Enum && binary.Left is LiteralExpression { Kind: LiteralKind.String } l && !right.Shape!.Values.Contains(l.Value))
                {
                    problem = $"'{l.Value}' is not one of its values [{string.Join(", ", right.Shape.Values)}], so this is never equal";
                }
                else if (!Compatible(a, b))
                {
                    problem = (ordering ? "values of these types cannot be compared" : "values of these types are never equal") + "; compare with a value of the same type" + Fix(a, b, binary);
                }
                else if (ordering && (a == Category.Bool || a == Category.Enum || b == Category.Bool || b == Category.Enum))
                {
                    problem = "true/false and sets of strings have no order; use == or !=";
                }

                if (problem is null) return;
                diagnostics.Add(new EnsembleDiagnostic(DiagnosticIds.TypeMismatch, Severity.Error,
                    $"{where} compares {Describe(binary.Left, left)} with {Describe(binary.Right, right)}: {problem}",
                    ensemble.FilePath, binary.Span));
            }
        }

        private static bool Compatible(Category a, Category b)
        {
            if (a == b) return true;
            // Enums and datetimes are text on the wire: they compare with string literals.
            bool Textual(Category c) => c == Category.Text || c == Category.Enum || c == Category.DateTime;
            return Textual(a) && Textual(b);
        }

        private static string Fix(Category a, Category b, BinaryExpression binary)
        {
            if ((a == Category.Bool && b == Category.Text && binary.Right is LiteralExpression { Kind: LiteralKind.String } r && (r.Value == "true" || r.Value == "false"))
                || (b == Category.Bool && a == Category.Text && binary.Left is LiteralExpression { Kind: LiteralKind.String }))
            {
                return " (write true or false without quotes)";
            }

            if (a == Category.Text && b == Category.Bool) return " (a string is never true or false; compare it with a quoted string)";
            if (a == Category.Number && b == Category.Text && binary.Right is LiteralExpression { Kind: LiteralKind.String }) return " (write the number without quotes)";
            return string.Empty;
        }

        private static Category CategoryOf(BindingType type, Expression expression)
        {
            if (expression is LiteralExpression { Kind: LiteralKind.Null }) return Category.Unknown;
            var shape = type.Shape;
            if (shape is null) return Category.Unknown;
            switch (shape.Kind)
            {
                case ShapeKind.String: return Category.Text;
                case ShapeKind.Int:
                case ShapeKind.Long:
                case ShapeKind.Number:
                case ShapeKind.Decimal: return Category.Number;
                case ShapeKind.Bool: return Category.Bool;
                case ShapeKind.DateTime: return Category.DateTime;
                case ShapeKind.Enum: return Category.Enum;
                case ShapeKind.Object:
                case ShapeKind.Array: return Category.Structured;
                default: return Category.Unknown;
            }
        }

        private static string Describe(Expression expression, BindingType type) => expression switch
        {
            PathExpression path => $"'{path.Text}' ({type.Shape!.Describe()})",
            LiteralExpression { Kind: LiteralKind.String } literal => $"the string '{literal.Value}'",
            LiteralExpression literal => literal.Value,
            _ => $"a comparison ({type.Shape!.Describe()})",
        };
    }
}
