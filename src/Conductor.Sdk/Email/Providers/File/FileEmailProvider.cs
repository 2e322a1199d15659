using System.Globalization;
using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Email;

/// <summary>
/// The zero-configuration email provider: writes each message as an RFC 5322 <c>.eml</c> file (multipart/alternative,
/// UTF-8, base64 parts) into a folder, named after the delivery id, so a newcomer can open what would have been sent.
/// </summary>
public sealed class FileEmailProvider(string directory, TimeProvider time) : IEmailProvider
{
    /// <inheritdoc />
    public string Name => "file";

    /// <summary>The folder the messages are written to.</summary>
    public string Directory { get; } = directory;

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(EmailMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            var path = Path.Combine(Directory, deliveryId + ".eml");
            var temporary = path + ".tmp";
            await File.WriteAllTextAsync(temporary, Format(message, deliveryId, time.GetUtcNow()), new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
            return AttemptResult.Delivered(null);
        }
        catch (IOException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Provider, $"could not write the message to {Directory}: {ex.Message}");
        }
        catch (UnauthorizedAccessException ex)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, $"no permission to write to {Directory}: {ex.Message}");
        }
    }

    /// <summary>The message as RFC 5322 text with CRLF line ends.</summary>
    public static string Format(EmailMessage message, string deliveryId, DateTimeOffset date)
    {
        var boundary = "=_conductor_" + deliveryId;
        var mime = new StringBuilder();
        void Header(string name, string value) => mime.Append(name).Append(": ").Append(value).Append("\r\n");
        Header("From", message.From);
        Header("To", string.Join(", ", message.To));
        if (message.Cc.Count > 0) Header("Cc", string.Join(", ", message.Cc));
        // Bcc recipients are recorded for inspection, as a local mail drop would, not as a visible header.
        if (message.Bcc.Count > 0) Header("X-Conductor-Bcc", string.Join(", ", message.Bcc));
        if (message.ReplyTo is { } replyTo) Header("Reply-To", replyTo);
        Header("Subject", EncodedWord(message.Subject));
        Header("Date", date.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture));
        Header("Message-ID", $"<{deliveryId}@conductor.local>");
        Header("MIME-Version", "1.0");
        Header("Content-Type", $"multipart/alternative; boundary=\"{boundary}\"");
        mime.Append("\r\n");
        Part(mime, boundary, "text/plain", message.Text);
        Part(mime, boundary, "text/html", message.Html);
        mime.Append("--").Append(boundary).Append("--\r\n");
        return mime.ToString();
    }

    private static void Part(StringBuilder mime, string boundary, string type, string content)
    {
        mime.Append("--").Append(boundary).Append("\r\n");
        mime.Append("Content-Type: ").Append(type).Append("; charset=utf-8\r\n");
        mime.Append("Content-Transfer-Encoding: base64\r\n\r\n");
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(content));
        for (var i = 0; i < encoded.Length; i += 76) mime.Append(encoded, i, Math.Min(76, encoded.Length - i)).Append("\r\n");
    }

    /// <summary>RFC 2047: plain ASCII subjects as they are, anything else as a UTF-8 base64 encoded-word.</summary>
    private static string EncodedWord(string subject)
    {
        foreach (var c in subject)
        {
            if (c > 126 || c < 32) return "=?utf-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(subject)) + "?=";
        }

        return subject;
    }
}
