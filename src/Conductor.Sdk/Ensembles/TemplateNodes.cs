using System.Runtime.CompilerServices;

namespace Conductor.Sdk.Ensembles;

/// <summary>
/// One piece of a template as the generator compiled it: literal text, a binding (<c>${input.orderId}</c>) or an
/// operator of a condition. Generated code builds these once, as tables, through <see cref="Bind"/>; rendering walks
/// them. Nothing is parsed at run time.
/// </summary>
public abstract class TemplateNode
{
    private protected TemplateNode()
    {
    }

    /// <summary>The node's value for one event or run.</summary>
    public abstract TemplateValue Evaluate(in TemplateContext context);

    /// <summary>Whether the value is truthy (conditions): empty, "false", "0" and "null" are false.</summary>
    public bool IsTrue(in TemplateContext context) => TemplateValues.Truthy(Evaluate(context));

    /// <summary>Literal text.</summary>
    public static implicit operator TemplateNode(string text) => new LiteralNode(text);

    internal virtual bool IsLiteral => false;

    internal virtual int LiteralLength => 0;

    internal virtual void Append(ref DefaultInterpolatedStringHandler builder, in TemplateContext context) => builder.AppendFormatted(Evaluate(context));
}

/// <summary>
/// What generated code calls to describe templates, conditions and outputs as tables (the generated file reads like the
/// YAML: <c>Bind.Step("ship-order", "trackingNumber")</c> is <c>${ship-order.output.trackingNumber}</c>).
/// </summary>
public static class Bind
{
    /// <summary>A template: its YAML source (shown by tools) and its parts in order.</summary>
    public static Notifications.CompiledTemplate Template(string source, params TemplateNode[] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return new Notifications.CompiledTemplate(source, new TemplatePlan(parts).Render);
    }

    /// <summary>A template without bindings: always <paramref name="text"/>.</summary>
    public static Notifications.CompiledTemplate Literal(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new Notifications.CompiledTemplate(text, (in TemplateContext _) => text);
    }

    /// <summary>A <c>condition:</c>: true when its value is truthy.</summary>
    public static Runner.FlowCondition Condition(params TemplateNode[] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return parts.Length == 1 ? parts[0].IsTrue : new TemplatePlan(parts).IsTrue;
    }

    /// <summary><c>${input.a.b}</c></summary>
    public static TemplateNode Input(params string[] path) => new InputNode(new TemplatePath(path));

    /// <summary><c>${step.output.a.b}</c></summary>
    public static TemplateNode Step(string step, params string[] path) => new StepNode(step, new TemplatePath(path));

    /// <summary><c>${previous.output.a.b}</c></summary>
    public static TemplateNode Previous(params string[] path) => new PreviousNode(new TemplatePath(path));

    /// <summary><c>${data.a.b}</c></summary>
    public static TemplateNode Data(params string[] path) => new DataNode(new TemplatePath(path));

    /// <summary><c>${env.NAME}</c>: the configuration value read at start-up.</summary>
    public static TemplateNode Env(string name) => new EnvNode(name);

    /// <summary><c>${step.executed}</c></summary>
    public static TemplateNode Executed(string step) => new ExecutedNode(step);

    /// <summary><c>${event}</c></summary>
    public static TemplateNode Event { get; } = new ContextNode(0);

    /// <summary><c>${ensemble.name}</c></summary>
    public static TemplateNode Ensemble { get; } = new ContextNode(1);

    /// <summary><c>${timestamp}</c></summary>
    public static TemplateNode Timestamp { get; } = new ContextNode(2);

    /// <summary>A binding that has no value where it is used (renders empty).</summary>
    public static TemplateNode Empty { get; } = new ContextNode(3);

    /// <summary><c>!a</c></summary>
    public static TemplateNode Not(TemplateNode operand) => new OperatorNode(OperatorKind.Not, operand, operand);

    /// <summary><c>a == b</c>: numbers compare by value, everything else as text.</summary>
    public static TemplateNode Equal(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.Equal, left, right);

    /// <summary><c>a != b</c></summary>
    public static TemplateNode NotEqual(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.NotEqual, left, right);

    /// <summary><c>a &lt; b</c></summary>
    public static TemplateNode Less(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.Less, left, right);

    /// <summary><c>a &lt;= b</c></summary>
    public static TemplateNode LessOrEqual(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.LessOrEqual, left, right);

    /// <summary><c>a &gt; b</c></summary>
    public static TemplateNode Greater(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.Greater, left, right);

    /// <summary><c>a &gt;= b</c></summary>
    public static TemplateNode GreaterOrEqual(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.GreaterOrEqual, left, right);

    /// <summary><c>a &amp;&amp; b</c></summary>
    public static TemplateNode And(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.And, left, right);

    /// <summary><c>a || b</c></summary>
    public static TemplateNode Or(TemplateNode left, TemplateNode right) => new OperatorNode(OperatorKind.Or, left, right);

    /// <summary>An <c>outputs:</c> entry that binds declared data (typed as declared).</summary>
    public static OutputBinding DeclaredOutput(string key, TemplateNode value) => new(key, OutputKind.Declared, value);

    /// <summary>An <c>outputs:</c> entry that is a bool (<c>${step.executed}</c>, a comparison).</summary>
    public static OutputBinding BoolOutput(string key, TemplateNode value) => new(key, OutputKind.Bool, value);

    /// <summary>An <c>outputs:</c> entry that is text.</summary>
    public static OutputBinding TextOutput(string key, TemplateNode value) => new(key, OutputKind.Text, value);

    /// <summary>An <c>outputs:</c> entry that binds undeclared data (the JSON value as it is).</summary>
    public static OutputBinding UntypedOutput(string key, TemplateNode value) => new(key, OutputKind.Untyped, value);

    /// <summary>A template of several parts: text with bindings, rendered into one string.</summary>
    public static TemplateNode Text(params TemplateNode[] parts) => new TextNode(new TemplatePlan(parts));
}

/// <summary>A template's parts, rendered into one string (the only allocation of a render is the result).</summary>
internal sealed class TemplatePlan
{
    private readonly TemplateNode[] _parts;
    private readonly int _literalLength;
    private readonly int _holes;
    private readonly int _bufferSize;

    public TemplatePlan(TemplateNode[] parts)
    {
        _parts = parts;
        foreach (var part in parts)
        {
            if (part.IsLiteral) _literalLength += part.LiteralLength;
            else _holes++;
        }

        _bufferSize = Math.Clamp(_literalLength + (_holes * 16), 32, 256);
    }

    public string Render(in TemplateContext context)
    {
        if (_parts.Length == 0) return string.Empty;
        if (_parts.Length == 1) return _parts[0].Evaluate(context).ToString();
        // A stack buffer sized for the usual result (zeroing a larger one costs more than the render); longer results spill into a pooled array.
        var builder = new DefaultInterpolatedStringHandler(_literalLength, _holes, null, stackalloc char[_bufferSize]);
        foreach (var part in _parts) part.Append(ref builder, context);
        return builder.ToStringAndClear();
    }

    public bool IsTrue(in TemplateContext context) => TemplateValues.Truthy(Render(context));
}

internal sealed class LiteralNode(string text) : TemplateNode
{
    private readonly TemplateValue _value = TemplateValue.Text(text);

    internal override bool IsLiteral => true;

    internal override int LiteralLength => text.Length;

    public override TemplateValue Evaluate(in TemplateContext context) => _value;

    internal override void Append(ref DefaultInterpolatedStringHandler builder, in TemplateContext context) => builder.AppendLiteral(text);
}

internal sealed class InputNode(TemplatePath path) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => context.Input(path);
}

internal sealed class StepNode(string step, TemplatePath path) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => context.Step(step, path);
}

internal sealed class PreviousNode(TemplatePath path) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => context.Previous(path);
}

internal sealed class DataNode(TemplatePath path) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => context.Data(path);
}

internal sealed class EnvNode(string name) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => TemplateValue.Text(context.Env(name));

    internal override void Append(ref DefaultInterpolatedStringHandler builder, in TemplateContext context) => builder.AppendLiteral(context.Env(name));
}

internal sealed class ExecutedNode(string step) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => TemplateValues.Text(context.Executed(step));
}

internal sealed class TextNode(TemplatePlan plan) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => TemplateValue.Text(plan.Render(context));
}

/// <summary><c>${event}</c>, <c>${ensemble.name}</c>, <c>${timestamp}</c>, or a binding with no value.</summary>
internal sealed class ContextNode(int kind) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => kind switch
    {
        0 => TemplateValue.Text(context.Event),
        1 => TemplateValue.Text(context.Ensemble),
        2 => context.Timestamp,
        _ => TemplateValue.Empty,
    };

    internal override void Append(ref DefaultInterpolatedStringHandler builder, in TemplateContext context)
    {
        switch (kind)
        {
            case 0: builder.AppendLiteral(context.Event); break;
            case 1: builder.AppendLiteral(context.Ensemble); break;
            default: builder.AppendFormatted(Evaluate(context)); break;
        }
    }
}

internal enum OperatorKind
{
    Not,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
}

internal sealed class OperatorNode(OperatorKind kind, TemplateNode left, TemplateNode right) : TemplateNode
{
    public override TemplateValue Evaluate(in TemplateContext context) => TemplateValues.Text(kind switch
    {
        OperatorKind.Not => !left.IsTrue(context),
        OperatorKind.Equal => TemplateValues.Equal(left.Evaluate(context), right.Evaluate(context)),
        OperatorKind.NotEqual => !TemplateValues.Equal(left.Evaluate(context), right.Evaluate(context)),
        OperatorKind.Less => TemplateValues.Compare(left.Evaluate(context), right.Evaluate(context)) < 0,
        OperatorKind.LessOrEqual => TemplateValues.Compare(left.Evaluate(context), right.Evaluate(context)) <= 0,
        OperatorKind.Greater => TemplateValues.Compare(left.Evaluate(context), right.Evaluate(context)) > 0,
        OperatorKind.GreaterOrEqual => TemplateValues.Compare(left.Evaluate(context), right.Evaluate(context)) >= 0,
        OperatorKind.And => left.IsTrue(context) && right.IsTrue(context),
        _ => left.IsTrue(context) || right.IsTrue(context),
    });
}
