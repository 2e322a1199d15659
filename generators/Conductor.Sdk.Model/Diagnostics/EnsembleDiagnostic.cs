namespace Conductor.Sdk.Model.Diagnostics
{
    /// <summary>How serious a diagnostic is; mirrors Roslyn's severities without depending on Roslyn.</summary>
    public enum Severity
    {
        /// <summary>Informational: worth knowing, nothing is wrong.</summary>
        Info,

        /// <summary>The ensemble works, but probably not as intended.</summary>
        Warning,

        /// <summary>The ensemble cannot be used; no code is generated for it.</summary>
        Error,
    }

    /// <summary>
    /// A problem found in an ensemble file, as plain data: id, severity, message, file and span.
    /// The generator turns it into a Roslyn <c>Diagnostic</c>; the CLI prints it directly.
    /// </summary>
    public sealed record EnsembleDiagnostic(string Id, Severity Severity, string Message, string FilePath, SourceSpan Span)
    {
        /// <summary>
        /// The <c>file(line,col): warning CND0005: message</c> form that editors and CI parse.
        /// </summary>
        public override string ToString() =>
            $"{FilePath}({Span.DisplayLine},{Span.DisplayColumn}): {SeverityWord(Severity)} {Id}: {Message}";

        private static string SeverityWord(Severity severity) => severity switch
        {
            Severity.Error => "error",
            Severity.Warning => "warning",
            _ => "info",
        };
    }
}
