using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;
using Conductor.Sdk.Model.Diagnostics;
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

        /// <summary>
        /// Reads one file, reporting as it goes. Split by concern: this file reads the top level (name, description,
        /// input, notifications, flow, outputs); EnsembleParser.Notifications.cs holds what every notification shares and
        /// .Webhook, .Email, .Sms and .Push each type's own rules; .Flow reads steps; .Shapes reads declared types; .Nodes
        /// reads YAML nodes (scalars, templates, lists, mappings with merge keys). Type and binding checks that need the
        /// whole ensemble run afterwards in Validation/EnsembleValidator.cs.
        /// </summary>
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

            private void Report(string id, Severity severity, string message, SourceSpan span) =>
                _diagnostics.Add(new EnsembleDiagnostic(id, severity, message, _path, span));
        }
    }
}
