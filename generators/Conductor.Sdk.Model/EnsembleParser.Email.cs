using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary><c>type: email</c>: recipients, subject and body, and the address check.</summary>
        private sealed partial class Reader
        {
            private Notification? ReadEmail(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label)
            {
                var provider = Provider(entries, Schema.EmailProviders, "email");
                var to = Recipients(entries, mapping, label, "email addresses, for example to: [oncall@example.com] or to: [\"${env.ONCALL_EMAIL}\"]", CheckEmail);
                Template? from = null;
                if (entries.TryGetValue("from", out var f))
                {
                    from = TemplateOf(f, "from");
                    if (from is not null) CheckEmail(from, "from");
                }

                var subject = entries.TryGetValue("subject", out var s) ? TemplateOf(s, "subject") : null;
                subject ??= DefaultTemplate(EmailNotification.DefaultSubject, mapping);
                return new EmailNotification(index, events, mapping.Span, provider, to, from, subject);
            }

            private static readonly Regex EmailAddress = new Regex(
                @"^(?:[^<>@]+<\s*)?[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+(?:\s*>)?$",
                RegexOptions.CultureInvariant);

            private void CheckEmail(Template value, string field)
            {
                if (!value.IsLiteral) return;
                var text = value.Raw.Trim();
                var angle = text.IndexOf('<');
                var local = angle >= 0 ? text.Substring(angle + 1).TrimEnd('>', ' ') : text;
                if (!EmailAddress.IsMatch(text) || local.StartsWith(".", StringComparison.Ordinal) || local.Contains(".."))
                {
                    Report(DiagnosticIds.InvalidAddress, Severity.Error,
                        $"'{value.Raw}' in '{field}' is not a valid email address; write it as name@example.com or \"Name <name@example.com>\", or bind it with ${{env.NAME}}",
                        value.Span);
                }
            }
        }
    }
}
