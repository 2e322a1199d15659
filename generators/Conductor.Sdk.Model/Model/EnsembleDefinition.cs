using Conductor.Sdk.Model.Templates;

namespace Conductor.Sdk.Model
{
    /// <summary>A scalar value as written in the file, with its position.</summary>
    public sealed record LocatedString(string Value, SourceSpan Span)
    {
        /// <inheritdoc />
        public override string ToString() => Value;
    }

    /// <summary>A whole number as written in the file, with its position.</summary>
    public sealed record LocatedInt(int Value, SourceSpan Span);

    /// <summary>
    /// One ensemble file, parsed: immutable and value-equal, with the position of every value.
    /// </summary>
    /// <param name="FilePath">The file it was read from.</param>
    /// <param name="Name">The kebab-case name (<c>user-onboarding</c>).</param>
    /// <param name="Description">Optional free text.</param>
    /// <param name="Timeout">Optional execution timeout in milliseconds.</param>
    /// <param name="Notifications">The notifications, in file order.</param>
    /// <param name="Flow">The flow's steps, in order.</param>
    /// <param name="Outputs">The <c>outputs:</c> bindings, in file order.</param>
    /// <param name="Span">The whole document.</param>
    /// <param name="Input">The declared shape of the run's input (<c>input:</c>), or null when the YAML declares none.</param>
    public sealed record EnsembleDefinition(
        string FilePath,
        LocatedString Name,
        LocatedString? Description,
        LocatedInt? Timeout,
        EquatableArray<Notification> Notifications,
        EquatableArray<FlowStep> Flow,
        EquatableArray<OutputBinding> Outputs,
        SourceSpan Span,
        Shape? Input = null)
    {
        /// <summary>The C# identifier the generator derives from the name: <c>user-onboarding</c> → <c>UserOnboarding</c>.</summary>
        public string TypeName => Naming.ToPascalCase(Name.Value);
    }

    /// <summary>An entry of <c>outputs:</c>: a key and the template that computes it.</summary>
    public sealed record OutputBinding(LocatedString Key, Template Value);

    /// <summary>A key/value pair whose value is a template (headers, push data, step config).</summary>
    public sealed record TemplateEntry(LocatedString Key, Template Value);

    /// <summary>
    /// A step of the flow: either an agent step (<see cref="Agent"/>) or an operation step
    /// (<see cref="Operation"/> with <see cref="Config"/>), optionally guarded by a condition. An agent step may declare
    /// the shape of its result (<see cref="Output"/>).
    /// </summary>
    public sealed record FlowStep(
        int Index,
        LocatedString? Name,
        LocatedString? Agent,
        LocatedString? Operation,
        Template? Condition,
        EquatableArray<TemplateEntry> Config,
        EquatableArray<TemplateEntry> Input,
        SourceSpan Span,
        Shape? Output = null)
    {
        /// <summary>The name other steps and outputs use to refer to this step: <c>name:</c>, else the agent's name.</summary>
        public string? StepName => Name?.Value ?? Agent?.Value;
    }
}
