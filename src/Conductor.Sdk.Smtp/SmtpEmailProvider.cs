using System.Collections.Concurrent;
using System.Net.Sockets;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Email;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Conductor.Sdk.Smtp;

/// <summary>How the SMTP connection is secured.</summary>
public enum SmtpSecurity
{
    /// <summary>Upgrade with STARTTLS (port 587).</summary>
    StartTls,
    /// <summary>TLS from the first byte (port 465).</summary>
    SslOnConnect,
    /// <summary>No TLS: only for a relay on loopback.</summary>
    None,
}

/// <summary>Settings of the SMTP provider (credentials from configuration; never logged).</summary>
public sealed class SmtpEmailOptions
{
    /// <summary>The server host.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>The server port.</summary>
    public int Port { get; set; } = 587;

    /// <summary>How the connection is secured.</summary>
    public SmtpSecurity Security { get; set; } = SmtpSecurity.StartTls;

    /// <summary>The user name, or null to send without authenticating.</summary>
    public string? Username { get; set; }

    /// <summary>The password.</summary>
    public string? Password { get; set; }

    /// <summary>Connected clients kept for reuse.</summary>
    public int PoolSize { get; set; } = 4;
}

/// <summary>
/// <c>provider: smtp</c> on MailKit, with a small pool of connected clients. A 4xx reply or a connection failure is
/// retried on the schedule; a 5xx reply is permanent and kept with the dead letter.
/// </summary>
public sealed class SmtpEmailProvider(IOptions<SmtpEmailOptions> options) : IEmailProvider, IDisposable
{
    private readonly ConcurrentBag<SmtpClient> _idle = new();

    /// <inheritdoc />
    public string Name => "smtp";

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(EmailMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var mime = ToMime(message, deliveryId);
        SmtpClient? client = null;
        try
        {
            client = await RentAsync(settings, cancellationToken).ConfigureAwait(false);
            await client.SendAsync(mime, cancellationToken).ConfigureAwait(false);
            Return(client, settings);
            client = null;
            return AttemptResult.Delivered(250);
        }
        catch (SmtpCommandException ex)
        {
            var code = (int)ex.StatusCode;
            Return(client, settings);
            client = null;
            var outcome = code is >= 400 and < 500 ? AttemptOutcome.Retry : AttemptOutcome.Permanent;
            return new AttemptResult(outcome, code, AttemptErrorKind.Provider, $"smtp: {code} {EmailMessage.SingleLine(ex.Message)}");
        }
        catch (Exception ex) when (ex is SmtpProtocolException or IOException or SocketException or SslHandshakeException or ServiceNotConnectedException)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, $"smtp: {EmailMessage.SingleLine(ex.Message)}");
        }
        catch (AuthenticationException ex)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, $"smtp: authentication failed: {EmailMessage.SingleLine(ex.Message)}");
        }
        finally
        {
            client?.Dispose();
        }
    }

    /// <summary>The MIME form of a message: multipart/alternative with the text and HTML parts.</summary>
    public static MimeMessage ToMime(EmailMessage message, string deliveryId)
    {
        var mime = new MimeMessage { Subject = message.Subject, MessageId = deliveryId + "@conductor.local" };
        mime.From.Add(MailboxAddress.Parse(message.From));
        foreach (var to in message.To) mime.To.Add(MailboxAddress.Parse(to));
        foreach (var cc in message.Cc) mime.Cc.Add(MailboxAddress.Parse(cc));
        foreach (var bcc in message.Bcc) mime.Bcc.Add(MailboxAddress.Parse(bcc));
        if (message.ReplyTo is { } replyTo) mime.ReplyTo.Add(MailboxAddress.Parse(replyTo));
        mime.Headers.Add("X-Conductor-Delivery-Id", deliveryId);
        mime.Body = new MultipartAlternative
        {
            new TextPart(MimeKit.Text.TextFormat.Plain) { Text = message.Text },
            new TextPart(MimeKit.Text.TextFormat.Html) { Text = message.Html },
        };
        return mime;
    }

    private async Task<SmtpClient> RentAsync(SmtpEmailOptions settings, CancellationToken cancellationToken)
    {
        while (_idle.TryTake(out var pooled))
        {
            if (pooled.IsConnected) return pooled;
            pooled.Dispose();
        }

        var client = new SmtpClient();
        var security = settings.Security switch
        {
            SmtpSecurity.SslOnConnect => SecureSocketOptions.SslOnConnect,
            SmtpSecurity.None => SecureSocketOptions.None,
            _ => SecureSocketOptions.StartTls,
        };
        await client.ConnectAsync(settings.Host, settings.Port, security, cancellationToken).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(settings.Username)) await client.AuthenticateAsync(settings.Username, settings.Password ?? string.Empty, cancellationToken).ConfigureAwait(false);
        return client;
    }

    private void Return(SmtpClient? client, SmtpEmailOptions settings)
    {
        if (client is null) return;
        if (client.IsConnected && _idle.Count < settings.PoolSize) _idle.Add(client);
        else client.Dispose();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        while (_idle.TryTake(out var client)) client.Dispose();
    }
}
