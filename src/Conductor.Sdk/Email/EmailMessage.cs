using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Conductor.Sdk.Events;

namespace Conductor.Sdk.Email;

/// <summary>A notification email, ready for a provider: addresses, a single-line subject, a text part and an HTML part.</summary>
/// <param name="From">The sender.</param>
/// <param name="To">The recipients.</param>
/// <param name="Subject">The subject, without line breaks (they cannot inject headers).</param>
/// <param name="Text">The plain-text part: the event as indented JSON.</param>
/// <param name="Html">The HTML part: a styled, colour-coded summary with every value escaped.</param>
public sealed record EmailMessage(string From, IReadOnlyList<string> To, string Subject, string Text, string Html)
{
    /// <summary>Copy recipients (an email operation step's <c>cc:</c>).</summary>
    public IReadOnlyList<string> Cc { get; init; } = Array.Empty<string>();

    /// <summary>Blind-copy recipients (<c>bcc:</c>): sent to, never written in a header.</summary>
    public IReadOnlyList<string> Bcc { get; init; } = Array.Empty<string>();

    /// <summary>The address replies go to (<c>replyTo:</c>), or null.</summary>
    public string? ReplyTo { get; init; }

    /// <summary>Green for execution.completed, red for execution.failed and execution.timeout, blue otherwise.</summary>
    public static string ColourOf(string eventName) => eventName switch
    {
        EventNames.ExecutionCompleted => "#1a7f37",
        EventNames.ExecutionFailed or EventNames.ExecutionTimeout => "#cf222e",
        _ => "#0969da",
    };

    /// <summary>Builds the message for one event, as the product description specifies its content.</summary>
    public static EmailMessage Create(string from, IReadOnlyList<string> to, string subject, ConductorEvent @event, ReadOnlyMemory<byte> body)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(from);
        ArgumentNullException.ThrowIfNull(to);
        using var document = JsonDocument.Parse(body);
        return new EmailMessage(from, to, SingleLine(subject), Indented(document.RootElement), BuildHtml(@event, document.RootElement));
    }

    /// <summary>A JSON value pretty-printed, without reflection.</summary>
    private static string Indented(JsonElement element)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            element.WriteTo(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Collapses CR, LF and other control characters to spaces: a rendered value can never start a new header.</summary>
    public static string SingleLine(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value) builder.Append(char.IsControl(c) ? ' ' : c);
        return builder.ToString().Trim();
    }

    private static string BuildHtml(ConductorEvent @event, JsonElement payload)
    {
        var colour = ColourOf(@event.Name);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>").Append(WebUtility.HtmlEncode(@event.Name)).Append("</title></head>");
        html.Append("<body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;padding:24px;background:#f6f8fa;color:#1f2328\">");
        html.Append("<div style=\"max-width:640px;margin:0 auto;background:#ffffff;border:1px solid #d0d7de;border-radius:8px;overflow:hidden\">");
        html.Append("<div class=\"event\" style=\"background:").Append(colour).Append(";color:#ffffff;padding:16px 20px;font-size:18px;font-weight:600\">")
            .Append(WebUtility.HtmlEncode(@event.Name)).Append("</div>");
        html.Append("<table style=\"width:100%;border-collapse:collapse;font-size:14px\">");
        Row(html, "ensemble", @event.Ensemble);
        Row(html, "timestamp", EventPayload.FormatTimestamp(@event.Timestamp));
        if (payload.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in data.EnumerateObject())
            {
                if (property.Name == "ensemble") continue;
                var value = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() ?? string.Empty : Indented(property.Value);
                Row(html, property.Name, value);
            }
        }

        html.Append("</table><div style=\"padding:12px 20px;color:#656d76;font-size:12px\">Sent by Conductor.Sdk</div></div></body></html>");
        return html.ToString();
    }

    private static void Row(StringBuilder html, string name, string value) =>
        html.Append("<tr><th style=\"text-align:left;vertical-align:top;padding:8px 20px;border-top:1px solid #d0d7de;width:30%\">")
            .Append(WebUtility.HtmlEncode(name))
            .Append("</th><td style=\"padding:8px 20px;border-top:1px solid #d0d7de\"><pre style=\"margin:0;white-space:pre-wrap;font-family:inherit\">")
            .Append(WebUtility.HtmlEncode(value))
            .Append("</pre></td></tr>");
}
