using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary>Reading YAML nodes: scalars, templates, integers, lists, mappings with merge keys, and where to report.</summary>
        private sealed partial class Reader
        {
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
        }
    }
}
