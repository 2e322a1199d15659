using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Text;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary>
        /// Reads the type declarations of <c>input:</c> and agent steps' <c>output:</c> (docs/types.md):
        /// <c>string int long number decimal bool datetime json</c>, a trailing <c>?</c> for an optional field
        /// (<c>carrier: string?</c> or <c>carrier?: ...</c>), a mapping for an object, <c>[T]</c> for a list and
        /// <c>[a, b, c]</c> for a closed set of strings.
        /// </summary>
        private sealed partial class Reader
        {
            private static readonly Regex FieldName = new Regex("^[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*$", RegexOptions.CultureInvariant);
            private const string SyntaxHint = "types are string, int, long, number, decimal, bool, datetime, json, a mapping of fields, [T] for a list or [a, b, c] for a set of strings";

            /// <summary>A declaration whose top level must be a mapping of fields (the record the generator emits).</summary>
            private Shape? ReadDeclaration(YNode node, string key, string label)
            {
                var resolved = node.Resolve();
                if (resolved is YScalar empty && empty.IsNull)
                {
                    return new Shape(ShapeKind.Object, EquatableArray<ShapeField>.Empty, EquatableArray<string>.Empty, null, node.Span);
                }

                if (resolved is not YMapping)
                {
                    Report(DiagnosticIds.InvalidShape, Severity.Error,
                        $"{label} must be a mapping of field names to types, for example {key}: {{orderId: string, quantity: int}}, not {resolved.KindDescription}",
                        node.Span);
                    return Unchecked(node.Span);
                }

                return ReadType(node, label, allowOptional: false, depth: 0, out _) ?? Unchecked(node.Span);
            }

            private Shape? ReadType(YNode node, string label, bool allowOptional, int depth, out bool optional)
            {
                optional = false;
                if (depth > YamlTreeReader.MaxDepth) return null;
                var resolved = node.Resolve();
                var span = node is YAlias ? node.Span : resolved.Span;
                switch (resolved)
                {
                    case YScalar scalar:
                        return ReadScalarType(scalar, span, label, allowOptional, out optional);
                    case YMapping mapping:
                        return ReadObject(mapping, span, label, depth);
                    case YSequence sequence:
                        return ReadListOrSet(sequence, span, label, depth);
                    default:
                        return null;
                }
            }

            private Shape? ReadScalarType(YScalar scalar, SourceSpan span, string label, bool allowOptional, out bool optional)
            {
                optional = false;
                var text = scalar.IsNull ? string.Empty : scalar.Value.Trim();
                if (text.EndsWith("?", StringComparison.Ordinal))
                {
                    text = text.Substring(0, text.Length - 1).TrimEnd();
                    if (!allowOptional)
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            $"'{scalar.Value}' in {label}: only a field can be optional; list items are never null — write [{text}]", span);
                        return null;
                    }

                    optional = true;
                }

                var kind = text switch
                {
                    "string" => ShapeKind.String,
                    "int" => ShapeKind.Int,
                    "long" => ShapeKind.Long,
                    "number" => ShapeKind.Number,
                    "decimal" => ShapeKind.Decimal,
                    "bool" => ShapeKind.Bool,
                    "datetime" => ShapeKind.DateTime,
                    "json" => ShapeKind.Json,
                    _ => (ShapeKind?)null,
                };
                if (kind is null)
                {
                    var hint = Suggestions.DidYouMean(text, Schema.TypeNames);
                    var alias = text switch
                    {
                        "boolean" => "; did you mean 'bool'?",
                        "integer" => "; did you mean 'int'?",
                        "float" or "double" => "; did you mean 'number'?",
                        "date" or "date-time" or "timestamp" => "; did you mean 'datetime'?",
                        "object" or "any" => "; write the fields as a mapping, or 'json' for any JSON value",
                        _ => hint,
                    };
                    Report(DiagnosticIds.InvalidShape, Severity.Error,
                        text.Length == 0
                            ? $"{label} has a field without a type; {SyntaxHint}"
                            : $"unknown type '{text}' in {label}{alias} ({SyntaxHint})",
                        span);
                    return null;
                }

                return Shape.Scalar(kind.Value, span);
            }

            private Shape? ReadObject(YMapping mapping, SourceSpan span, string label, int depth)
            {
                var fields = new List<ShapeField>();
                var members = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var entry in Flatten(mapping))
                {
                    var raw = entry.Key.Value;
                    var keyOptional = raw.EndsWith("?", StringComparison.Ordinal);
                    var name = keyOptional ? raw.Substring(0, raw.Length - 1) : raw;
                    var key = new LocatedString(name, entry.Key.Span);
                    if (!FieldName.IsMatch(name))
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            $"'{raw}' in {label} is not a usable field name; use letters, digits, '_' and single '-', starting with a letter (for example orderId or order-id)",
                            entry.Key.Span);
                        continue;
                    }

                    var member = Naming.ToPascalCase(name);
                    if (members.TryGetValue(member, out var other))
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            $"field '{name}' in {label} and field '{other}' both become the C# property {member}; rename one of them",
                            entry.Key.Span);
                        continue;
                    }

                    members[member] = name;
                    var type = ReadType(entry.Value, $"field '{name}' of {label}", allowOptional: true, depth + 1, out var typeOptional);
                    // A field whose type is wrong was reported; it stays in the shape, unchecked, so that bindings to it
                    // are not reported a second time as unknown.
                    fields.Add(new ShapeField(key, type ?? Unchecked(entry.Value.Span), keyOptional || typeOptional));
                }

                return new Shape(ShapeKind.Object, fields.ToEquatableArray(), EquatableArray<string>.Empty, null, span);
            }

            private Shape? ReadListOrSet(YSequence sequence, SourceSpan span, string label, int depth)
            {
                if (sequence.Items.Count == 0)
                {
                    Report(DiagnosticIds.InvalidShape, Severity.Error,
                        $"{label} is an empty list; write [T] for a list of T (for example [string]) or [a, b, c] for a closed set of strings", span);
                    return null;
                }

                if (sequence.Items.Count == 1 && IsTypeExpression(sequence.Items[0]))
                {
                    var element = ReadType(sequence.Items[0], "the items of " + label, allowOptional: false, depth + 1, out _);
                    return new Shape(ShapeKind.Array, EquatableArray<ShapeField>.Empty, EquatableArray<string>.Empty, element ?? Unchecked(span), span);
                }

                // A closed set of strings: [low, normal, high].
                var values = new List<string>();
                var members = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var item in sequence.Items)
                {
                    if (item.Resolve() is not YScalar value || value.IsNull || value.Value.Trim().Length == 0)
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            $"{label}: a set of allowed strings lists plain values, as in [low, normal, high]; a list type has exactly one item, as in [string] or [{{sku: string}}]",
                            item.Span);
                        return null;
                    }

                    var text = value.Value.Trim();
                    if (IsTypeName(text))
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            $"{label} mixes a type name ('{text}') into a set of allowed strings; a list type has exactly one item ([{text}]), and a set lists values ([low, normal, high])",
                            item.Span);
                        return null;
                    }

                    var member = Naming.ToPascalCase(text);
                    if (members.TryGetValue(member, out var other))
                    {
                        Report(DiagnosticIds.InvalidShape, Severity.Error,
                            other == text
                                ? $"'{text}' is listed twice in {label}"
                                : $"'{text}' and '{other}' in {label} both become the C# enum member {member}; rename one of them",
                            item.Span);
                        return null;
                    }

                    members[member] = text;
                    values.Add(text);
                }

                return new Shape(ShapeKind.Enum, EquatableArray<ShapeField>.Empty, values.ToEquatableArray(), null, span);
            }

            /// <summary>What a declaration that failed to read stands for: any value, so that its bindings are not reported again.</summary>
            private static Shape Unchecked(SourceSpan span) => Shape.Scalar(ShapeKind.Json, span);

            private static bool IsTypeExpression(YNode node)
            {
                var resolved = node.Resolve();
                return resolved is YMapping || resolved is YSequence || (resolved is YScalar scalar && IsTypeName(scalar.Value.Trim().TrimEnd('?')));
            }

            private static bool IsTypeName(string text) => Contains(Schema.TypeNames, text);
        }
    }
}
