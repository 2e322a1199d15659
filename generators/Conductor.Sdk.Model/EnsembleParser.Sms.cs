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
        /// <summary><c>type: sms</c>: recipients in E.164 and the message length.</summary>
        private sealed partial class Reader
        {
            private Notification? ReadSms(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label)
            {
                var provider = Provider(entries, Schema.SmsProviders, "SMS");
                var to = Recipients(entries, mapping, label, "E.164 phone numbers, for example to: [\"+14155550100\"] or to: [\"${env.ONCALL_PHONE}\"]", CheckPhone);
                Template? from = null;
                if (entries.TryGetValue("from", out var f))
                {
                    from = TemplateOf(f, "from");
                    if (from is not null && from.IsLiteral && from.Raw.StartsWith("+", StringComparison.Ordinal)) CheckPhone(from, "from");
                }

                var body = entries.TryGetValue("body", out var b) ? TemplateOf(b, "body") : null;
                if (body is not null) CheckSmsLength(body, label);
                body ??= DefaultTemplate(SmsNotification.DefaultBody, mapping);
                return new SmsNotification(index, events, mapping.Span, provider, to, from, body);
            }

            private void CheckSmsLength(Template body, string label)
            {
                var literal = body.LiteralText.Length;
                if (literal > SmsNotification.MaxBodyLength)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has a body of at least {literal} characters before any binding is filled in; SMS bodies are limited to {SmsNotification.MaxBodyLength}",
                        body.Span);
                }
                else if (body.Raw.Trim().Length == 0)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has an empty body; an SMS needs 1 to {SmsNotification.MaxBodyLength} characters", body.Span);
                }
            }

            private static readonly Regex E164 = new Regex(@"^\+[1-9][0-9]{1,14}$", RegexOptions.CultureInvariant);

            private void CheckPhone(Template value, string field)
            {
                if (!value.IsLiteral) return;
                if (!E164.IsMatch(value.Raw.Trim()))
                {
                    Report(DiagnosticIds.InvalidAddress, Severity.Error,
                        $"'{value.Raw}' in '{field}' is not an E.164 phone number; write '+' then the country code and number with no spaces (for example +14155550100), or bind it with ${{env.NAME}}",
                        value.Span);
                }
            }
        }
    }
}
