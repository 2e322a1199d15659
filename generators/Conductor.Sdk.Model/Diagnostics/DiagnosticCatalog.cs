using System.Collections.Generic;

namespace Conductor.Sdk.Model.Diagnostics
{
    /// <summary>One diagnostic rule of the CND catalogue (DESIGN.md section 6).</summary>
    public sealed record DiagnosticRule(string Id, string Title, Severity DefaultSeverity, string Description)
    {
        /// <summary>Where the rule's documentation page lives.</summary>
        public string HelpLink => DiagnosticCatalog.HelpLinkBase + Id + ".md";
    }

    /// <summary>The identifiers of every Conductor diagnostic.</summary>
    public static class DiagnosticIds
    {
        /// <summary>YAML syntax error.</summary>
        public const string YamlSyntax = "CND0001";
        /// <summary>Required field missing.</summary>
        public const string RequiredField = "CND0002";
        /// <summary>Unknown notification type, provider, operation or format.</summary>
        public const string UnknownKind = "CND0003";
        /// <summary>Unknown event name.</summary>
        public const string UnknownEvent = "CND0004";
        /// <summary>Webhook without a secret.</summary>
        public const string MissingSecret = "CND0005";
        /// <summary>Secret written as a literal.</summary>
        public const string LiteralSecret = "CND0006";
        /// <summary>Invalid or insecure webhook URL.</summary>
        public const string InvalidUrl = "CND0007";
        /// <summary>Invalid email address or phone number.</summary>
        public const string InvalidAddress = "CND0008";
        /// <summary>Template syntax error.</summary>
        public const string TemplateSyntax = "CND0009";
        /// <summary>Unknown binding.</summary>
        public const string UnknownBinding = "CND0010";
        /// <summary>Value out of range or of the wrong type.</summary>
        public const string OutOfRange = "CND0011";
        /// <summary>Duplicate ensemble name.</summary>
        public const string DuplicateName = "CND0012";
        /// <summary>Unknown key.</summary>
        public const string UnknownKey = "CND0013";
        /// <summary>Notification subscribes to every event.</summary>
        public const string AllEvents = "CND0014";

        /// <summary>CND0015: a flow's agent has no implementation in the generated registration call.</summary>
        public const string UnregisteredAgent = "CND0015";

        /// <summary>CND0016: a binding names a member that the declared shape does not have.</summary>
        public const string UnknownMember = "CND0016";

        /// <summary>CND0017: a condition compares or combines values of incompatible types.</summary>
        public const string TypeMismatch = "CND0017";

        /// <summary>CND0018: a binding reads data whose shape is not declared, so it cannot be checked.</summary>
        public const string UndeclaredShape = "CND0018";

        /// <summary>CND0019: an <c>input:</c> or <c>output:</c> declaration is not a valid type.</summary>
        public const string InvalidShape = "CND0019";
    }

    /// <summary>The catalogue of rules: the single place where ids, titles and severities are defined.</summary>
    public static class DiagnosticCatalog
    {
        /// <summary>Prefix of every rule's documentation page (docs/diagnostics/&lt;ID&gt;.md).</summary>
        public const string HelpLinkBase = "https://github.com/conductor-sdk/conductor-sdk/blob/main/docs/diagnostics/";

        /// <summary>The category every rule reports under.</summary>
        public const string Category = "Conductor.Ensembles";

        /// <summary>Every rule, in id order.</summary>
        public static IReadOnlyList<DiagnosticRule> All { get; } = new[]
        {
            new DiagnosticRule(DiagnosticIds.YamlSyntax, "Ensemble YAML syntax error", Severity.Error,
                "The file is not valid YAML, or its structure cannot be an ensemble (nesting too deep, alias expansion too large, several documents)."),
            new DiagnosticRule(DiagnosticIds.RequiredField, "Required ensemble field missing", Severity.Error,
                "A field the ensemble needs (name, a notification's type, url, events, to, a flow step's agent or operation, ...) is missing or empty."),
            new DiagnosticRule(DiagnosticIds.UnknownKind, "Unknown notification type, provider or operation", Severity.Error,
                "The notification type, provider, webhook format or flow operation is not one Conductor knows."),
            new DiagnosticRule(DiagnosticIds.UnknownEvent, "Unknown event name", Severity.Error,
                "A notification subscribes to an event that does not exist."),
            new DiagnosticRule(DiagnosticIds.MissingSecret, "Webhook without a secret", Severity.Warning,
                "Without a secret the webhook is sent unsigned and receivers cannot verify where it came from."),
            new DiagnosticRule(DiagnosticIds.LiteralSecret, "Secret written as a literal", Severity.Warning,
                "A secret written into the YAML is committed with the source; bind it from configuration with ${env.NAME}."),
            new DiagnosticRule(DiagnosticIds.InvalidUrl, "Invalid or insecure webhook URL", Severity.Error,
                "The webhook URL must be absolute http(s); plain http is only accepted for loopback hosts (a warning otherwise)."),
            new DiagnosticRule(DiagnosticIds.InvalidAddress, "Invalid email address or phone number", Severity.Error,
                "A literal email address is malformed, or a literal phone number is not in E.164 form (+ and up to 15 digits)."),
            new DiagnosticRule(DiagnosticIds.TemplateSyntax, "Template syntax error", Severity.Error,
                "A ${...} template or condition expression cannot be parsed."),
            new DiagnosticRule(DiagnosticIds.UnknownBinding, "Unknown template binding", Severity.Error,
                "A ${...} binding names a root or step that does not exist (error), or a data field the subscribed event does not carry (warning)."),
            new DiagnosticRule(DiagnosticIds.OutOfRange, "Value out of range", Severity.Error,
                "A value is outside its allowed range (retries, timeouts, SMS length) or is not of the expected kind."),
            new DiagnosticRule(DiagnosticIds.DuplicateName, "Duplicate ensemble name", Severity.Error,
                "Two ensemble files in the project use the same name, or names that produce the same generated class."),
            new DiagnosticRule(DiagnosticIds.UnknownKey, "Unknown key", Severity.Warning,
                "A key is not part of the ensemble schema and is ignored; it is usually a typo."),
            new DiagnosticRule(DiagnosticIds.AllEvents, "Notification subscribes to every event", Severity.Info,
                "Subscribing to every event is rarely what a reader of the notification wants; consider only the events that need attention."),
            new DiagnosticRule(DiagnosticIds.UnregisteredAgent, "Flow agent without a registered implementation", Severity.Error,
                "Every agent a flow runs needs a C# implementation registered through the generated Add{Ensemble}(agents => ...) call; a missing one would fail every run."),
            new DiagnosticRule(DiagnosticIds.UnknownMember, "Unknown member of a declared shape", Severity.Error,
                "A binding into input, a step's output, previous.output or data.output names a field that the declared shape does not have; it would render empty."),
            new DiagnosticRule(DiagnosticIds.TypeMismatch, "Condition compares incompatible types", Severity.Error,
                "A condition compares values whose declared types cannot be equal or ordered (a string with true, a number with a string, an enum with a value outside its set)."),
            new DiagnosticRule(DiagnosticIds.UndeclaredShape, "Binding into undeclared data", Severity.Warning,
                "A binding reads the ensemble's input or an agent step's output, but its shape is not declared, so the build cannot check the binding; declare 'input:' or the step's 'output:'."),
            new DiagnosticRule(DiagnosticIds.InvalidShape, "Invalid type declaration", Severity.Error,
                "An 'input:' or 'output:' declaration uses an unknown type name or a form the type syntax does not have (docs/types.md)."),
        };

        /// <summary>The rule with the given id.</summary>
        public static DiagnosticRule Get(string id)
        {
            foreach (var rule in All)
            {
                if (rule.Id == id) return rule;
            }

            throw new KeyNotFoundException($"No Conductor diagnostic rule has the id '{id}'.");
        }
    }
}
