using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;
using Conductor.Sdk.Model.Templates;

namespace Conductor.Cli.Rendering;

/// <summary>
/// Evaluates a parsed <c>${...}</c> template the way the generator's compiled code does (TemplateCompiler), reading
/// event values through the runtime's own <see cref="TemplateContext"/>, so a preview renders exactly what the
/// application would. <c>${env.NAME}</c> is answered by <see cref="EnvironmentValues"/>, which records unset names.
/// </summary>
internal sealed class TemplateInterpreter
{
    private readonly TemplateContext _context;
    private readonly EnvironmentValues _environment;

    /// <summary>An interpreter for one event; <paramref name="event"/> is null for values the runtime fixes at start-up (webhook URL and headers).</summary>
    public TemplateInterpreter(string ensemble, ConductorEvent? @event, EnvironmentValues environment)
    {
        _context = new TemplateContext(ensemble, @event, EnsembleEnvironment.Empty);
        _environment = environment;
    }

    /// <summary>The text of the whole template.</summary>
    public string Render(Template template)
    {
        if (template.IsLiteral) return template.LiteralText;
        if (template.SingleExpression is { } only) return Evaluate(only).ToString();
        var builder = new System.Text.StringBuilder();
        foreach (var part in template.Parts)
        {
            switch (part)
            {
                case LiteralPart literal:
                    builder.Append(literal.Text);
                    break;
                case ExpressionPart expression:
                    builder.Append(Evaluate(expression.Expression).ToString());
                    break;
            }
        }

        return builder.ToString();
    }

    /// <summary>One expression, as a template value (conditions yield the text "true" or "false").</summary>
    public TemplateValue Evaluate(Expression expression)
    {
        switch (expression)
        {
            case PathExpression path:
                return Path(path);
            case LiteralExpression literal:
                return TemplateValue.Text(literal.Kind == LiteralKind.Null ? string.Empty : literal.Value);
            case UnaryExpression unary:
                return TemplateValues.Text(!TemplateValues.Truthy(Evaluate(unary.Operand)));
            case BinaryExpression binary:
                var left = Evaluate(binary.Left);
                var right = Evaluate(binary.Right);
                return binary.Operator switch
                {
                    BinaryOperator.Equal => TemplateValues.Text(TemplateValues.Equal(left, right)),
                    BinaryOperator.NotEqual => TemplateValues.Text(!TemplateValues.Equal(left, right)),
                    BinaryOperator.LessThan => TemplateValues.Text(TemplateValues.Compare(left, right) < 0),
                    BinaryOperator.LessThanOrEqual => TemplateValues.Text(TemplateValues.Compare(left, right) <= 0),
                    BinaryOperator.GreaterThan => TemplateValues.Text(TemplateValues.Compare(left, right) > 0),
                    BinaryOperator.GreaterThanOrEqual => TemplateValues.Text(TemplateValues.Compare(left, right) >= 0),
                    BinaryOperator.And => TemplateValues.Text(TemplateValues.Truthy(left) && TemplateValues.Truthy(right)),
                    _ => TemplateValues.Text(TemplateValues.Truthy(left) || TemplateValues.Truthy(right)),
                };
            default:
                return TemplateValue.Empty;
        }
    }

    private TemplateValue Path(PathExpression path)
    {
        var segments = path.Segments;
        switch (segments[0].Name)
        {
            case "event": return TemplateValue.Text(_context.Event);
            case "timestamp": return _context.Timestamp;
            case "ensemble": return TemplateValue.Text(_context.Ensemble);
            case "env": return TemplateValue.Text(_environment.Get(segments[1].Name));
            case "data": return segments.Count == 1 ? TemplateValue.Empty : _context.Data(Tail(segments));
            case "input": return _context.Input(Tail(segments));
            default:
                // Step results exist only while a flow runs; outside a run the compiled code renders them empty too.
                return TemplateValue.Empty;
        }
    }

    private static TemplatePath Tail(Conductor.Sdk.Model.EquatableArray<PathSegment> segments)
    {
        var names = new string[segments.Count - 1];
        for (var i = 1; i < segments.Count; i++) names[i - 1] = segments[i].Name;
        return new TemplatePath(names);
    }
}

/// <summary>
/// The <c>--env NAME=VALUE</c> values of a preview. A name without a value renders as a visible placeholder and is
/// remembered, so the preview can warn about it instead of silently rendering an empty string.
/// </summary>
internal sealed class EnvironmentValues
{
    private readonly IReadOnlyDictionary<string, string> _values;
    private readonly SortedSet<string> _unset = new(StringComparer.Ordinal);

    public EnvironmentValues(IReadOnlyDictionary<string, string> values) => _values = values;

    /// <summary>Names that were used but not given.</summary>
    public IReadOnlyCollection<string> Unset => _unset;

    /// <summary>Whether a value was given for <paramref name="name"/>.</summary>
    public bool Has(string name) => _values.TryGetValue(name, out var value) && value.Length > 0;

    /// <summary>The value, or the placeholder <c>&lt;unset:NAME&gt;</c>.</summary>
    public string Get(string name)
    {
        if (_values.TryGetValue(name, out var value) && value.Length > 0) return value;
        _unset.Add(name);
        return Placeholder(name);
    }

    /// <summary>How an unset variable shows in the output.</summary>
    public static string Placeholder(string name) => $"<unset:{name}>";

    /// <summary>Parses <c>NAME=VALUE</c> pairs; the value may be empty, the name may not.</summary>
    public static EnvironmentValues Parse(IEnumerable<string> pairs)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var position = 0;
        foreach (var pair in pairs)
        {
            position++;
            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                // Not echoed: what was typed may be the secret itself.
                throw new CliUsageException($"--env value #{position} is not NAME=VALUE; write for example --env WEBHOOK_SECRET=... (the value is not shown).");
            }

            values[pair[..equals]] = pair[(equals + 1)..];
        }

        return new EnvironmentValues(values);
    }
}
