using System;
using System.Collections.Generic;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Model.Text;
using Conductor.Sdk.Model.Validation;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model
{
    public static partial class EnsembleParser
    {
        /// <summary><c>type: webhook</c>: URL, secret, headers, signature format, retries and timeout.</summary>
        private sealed partial class Reader
        {
            private Notification? ReadWebhook(Dictionary<string, YNode> entries, YMapping mapping, int index, EquatableArray<LocatedString> events, string label, LocatedString type)
            {
                var url = Required(entries, mapping, "url", label, "the address to POST to, for example url: https://api.example.com/webhooks");
                if (url is not null) CheckUrl(url, label);

                Template? secret = null;
                if (entries.TryGetValue("secret", out var secretNode))
                {
                    secret = TemplateOf(secretNode, "secret");
                    if (secret is not null && secret.Raw.Trim().Length == 0)
                    {
                        Report(DiagnosticIds.MissingSecret, Severity.Warning,
                            $"{label} has an empty 'secret', so it is sent unsigned and receivers cannot verify it; write secret: ${{env.WEBHOOK_SECRET}}",
                            secret.Span);
                        secret = null;
                    }
                    else if (secret is not null && secret.EnvironmentVariable is null && (secret.IsLiteral || secret.LiteralText.Length > 0))
                    {
                        // A secret bound only to event data is CND0010 (webhook fields are fixed at start-up).
                        var how = secret.IsLiteral ? "written as a literal" : "written partly as a literal";
                        var why = "anyone who can read this file can forge signatures";
                        Report(DiagnosticIds.LiteralSecret, Severity.Warning,
                            $"{label} has its secret {how}; {why} — write secret: ${{env.WEBHOOK_SECRET}} and set the value in configuration",
                            secret.Span);
                    }
                }
                else
                {
                    Report(DiagnosticIds.MissingSecret, Severity.Warning,
                        $"{label} has no 'secret', so it is sent unsigned and receivers cannot verify it; add secret: ${{env.WEBHOOK_SECRET}}",
                        type.Span);
                }

                var retries = entries.TryGetValue("retries", out var r)
                    ? Integer(r, "retries", Schema.Limits.MinRetries, Schema.Limits.MaxRetries, "'retries' (retries after the first attempt)")?.Value
                    : null;
                var timeout = entries.TryGetValue("timeout", out var t)
                    ? Integer(t, "timeout", Schema.Limits.MinWebhookTimeout, Schema.Limits.MaxWebhookTimeout, "webhook 'timeout' (milliseconds per attempt)")?.Value
                    : null;

                var headers = new List<TemplateEntry>();
                if (entries.TryGetValue("headers", out var h))
                {
                    foreach (var entry in Map(h, "headers"))
                    {
                        if (!HeaderName.IsMatch(entry.Key.Value))
                        {
                            Report(DiagnosticIds.OutOfRange, Severity.Error,
                                $"'{entry.Key.Value}' is not a valid HTTP header name; use letters, digits and '-'", entry.Key.Span);
                            continue;
                        }

                        var value = TemplateOf(entry.Value, "headers." + entry.Key.Value);
                        if (value is not null) headers.Add(new TemplateEntry(entry.Key, value));
                    }
                }

                var format = WebhookFormat.Conductor;
                if (entries.TryGetValue("format", out var fm) && Scalar(fm, "format") is LocatedString formatValue)
                {
                    if (formatValue.Value == "standard-webhooks") format = WebhookFormat.StandardWebhooks;
                    else if (formatValue.Value != "conductor")
                    {
                        Report(DiagnosticIds.UnknownKind, Severity.Error,
                            $"unknown webhook format '{formatValue.Value}'{Suggestions.DidYouMean(formatValue.Value, Schema.WebhookFormats)} (known formats: conductor, standard-webhooks)",
                            formatValue.Span);
                    }
                }

                var (permits, per) = entries.TryGetValue("rate-limit", out var rl) ? RateLimit(rl, label) : (0, 0);
                if (url is null) return null;
                return new WebhookNotification(index, events, mapping.Span, url, secret,
                    retries ?? WebhookNotification.DefaultRetries,
                    timeout ?? WebhookNotification.DefaultTimeoutMilliseconds,
                    headers.ToEquatableArray(), format, permits, per);
            }

            /// <summary><c>rate-limit: 50/s</c> (units s, min, h): the permits and the period in seconds, or (0, 0) after a diagnostic.</summary>
            private (int Permits, int PerSeconds) RateLimit(YNode node, string label)
            {
                var value = Scalar(node, "rate-limit");
                if (value is null) return (0, 0);
                var text = value.Value.Trim();
                var slash = text.IndexOf('/');
                var count = slash > 0 ? text.Substring(0, slash).Trim() : string.Empty;
                var unit = slash > 0 ? text.Substring(slash + 1).Trim() : string.Empty;
                var per = unit switch { "s" or "sec" or "second" => 1, "m" or "min" or "minute" => 60, "h" or "hour" => 3600, _ => 0 };
                if (!int.TryParse(count, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var permits) || per == 0)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has rate-limit '{value.Value}', which is not <count>/<unit>; write for example rate-limit: 50/s (units: s, min, h)",
                        value.Span);
                    return (0, 0);
                }

                if (permits < Schema.Limits.MinRatePermits || permits > Schema.Limits.MaxRatePermits)
                {
                    Report(DiagnosticIds.OutOfRange, Severity.Error,
                        $"{label} has rate-limit {permits}/{unit}; the count must be between {Schema.Limits.MinRatePermits} and {Schema.Limits.MaxRatePermits}",
                        value.Span);
                    return (0, 0);
                }

                return (permits, per);
            }

            private void CheckUrl(Template url, string label)
            {
                if (url.Parts.Count == 0 || url.Parts[0] is not LiteralPart)
                {
                    return; // The address comes from a binding (usually ${env.X}); it is checked at start-up.
                }

                const string Placeholder = "conductor-binding";
                var probe = new System.Text.StringBuilder();
                foreach (var part in url.Parts)
                {
                    probe.Append(part is LiteralPart literal ? literal.Text : Placeholder);
                }

                if (!Uri.TryCreate(probe.ToString(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
                {
                    Report(DiagnosticIds.InvalidUrl, Severity.Error,
                        $"{label} has an invalid url '{url.Raw}'; it must be an absolute http or https address such as https://api.example.com/webhooks",
                        url.Span);
                    return;
                }

                if (uri.Scheme == Uri.UriSchemeHttp && !uri.IsLoopback && uri.Host.IndexOf(Placeholder, StringComparison.Ordinal) < 0)
                {
                    Report(DiagnosticIds.InvalidUrl, Severity.Warning,
                        $"{label} sends to '{uri.Host}' over plain http, so payloads and signatures travel unencrypted; use https (http is only expected for loopback hosts)",
                        url.Span);
                }
            }
        }
    }
}
