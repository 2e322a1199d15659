using Conductor.Sdk.Ensembles;

namespace Conductor.Sdk.Notifications;

/// <summary>A template for a field, and its source text (for tools that show what would be sent).</summary>
public sealed record CompiledTemplate(string Source, TemplateRenderer Render)
{
    /// <summary>
    /// True when the value is known from configuration alone: the source has no bindings, or only <c>${env.NAME}</c>
    /// ones (spaces allowed inside the braces). Such values can be checked at start-up and resolved at send time.
    /// </summary>
    public bool KnownAtStart
    {
        get
        {
            for (var start = Source.IndexOf("${", StringComparison.Ordinal); start >= 0; start = Source.IndexOf("${", start, StringComparison.Ordinal))
            {
                var end = Source.IndexOf('}', start);
                if (end < 0) return false;
                var inner = Source.AsSpan(start + 2, end - start - 2).Trim();
                if (!inner.StartsWith("env.", StringComparison.Ordinal) || inner.Length == 4) return false;
                foreach (var c in inner[4..])
                {
                    if (!(char.IsAsciiLetterOrDigit(c) || c == '_')) return false;
                }

                start = end + 1;
            }

            return true;
        }
    }
}

/// <summary>A <c>type: email</c> notification with compiled templates.</summary>
public sealed record EmailNotificationDefinition(
    string EnsembleName, int NotificationIndex, IEnumerable<string> EventNames,
    string? Provider,
    IReadOnlyList<CompiledTemplate> To,
    CompiledTemplate? From,
    CompiledTemplate Subject)
    : NotificationDefinition(EnsembleName, NotificationIndex, EventNames)
{
    /// <inheritdoc />
    public override string Channel => "email";

    /// <inheritdoc />
    public override int Retries => 3;
}

/// <summary>A <c>type: sms</c> notification with compiled templates.</summary>
public sealed record SmsNotificationDefinition(
    string EnsembleName, int NotificationIndex, IEnumerable<string> EventNames,
    string? Provider,
    IReadOnlyList<CompiledTemplate> To,
    CompiledTemplate? From,
    CompiledTemplate Body)
    : NotificationDefinition(EnsembleName, NotificationIndex, EventNames)
{
    /// <inheritdoc />
    public override string Channel => "sms";

    /// <inheritdoc />
    public override int Recipients => Math.Max(1, To.Count);

    /// <inheritdoc />
    public override int Retries => 3;
}

/// <summary>A <c>type: push</c> notification with compiled templates; exactly one target is set.</summary>
public sealed record PushNotificationDefinition(
    string EnsembleName, int NotificationIndex, IEnumerable<string> EventNames,
    string Provider,
    IReadOnlyDictionary<string, CompiledTemplate> Targets,
    CompiledTemplate? Title,
    CompiledTemplate? Body,
    CompiledTemplate? Image,
    IReadOnlyDictionary<string, CompiledTemplate> Data,
    IReadOnlyList<(CompiledTemplate Id, CompiledTemplate Title)> Actions)
    : NotificationDefinition(EnsembleName, NotificationIndex, EventNames)
{
    /// <summary>Provider settings given in the YAML that are not the recipient; for apns, <c>topic</c> (the apns-topic, your bundle id).</summary>
    public IReadOnlyDictionary<string, CompiledTemplate> Options { get; init; } = new Dictionary<string, CompiledTemplate>();

    /// <inheritdoc />
    public override string Channel => "push";

    /// <inheritdoc />
    public override int Retries => 3;
}
