using System.Security.Cryptography;
using System.Text;

namespace Conductor.Sdk.Webhooks;

/// <summary>Which headers and signature scheme a webhook uses.</summary>
public enum WebhookSignatureFormat
{
    /// <summary><c>X-Conductor-Signature: sha256=&lt;hex&gt;</c> over <c>"{timestamp}.{body}"</c>.</summary>
    Conductor,

    /// <summary><c>webhook-signature: v1,&lt;base64&gt;</c> over <c>"{id}.{timestamp}.{body}"</c> (Standard Webhooks).</summary>
    StandardWebhooks,
}

/// <summary>
/// Computes webhook signatures. A signature is recomputed for every attempt, because the timestamp
/// is the attempt's own; the body bytes are exactly those sent.
/// </summary>
public static class WebhookSigner
{
    /// <summary>The prefix of Standard Webhooks secrets; the rest is the base64 key.</summary>
    public const string StandardWebhooksSecretPrefix = "whsec_";

    /// <summary><c>sha256=</c> + lowercase hex HMAC-SHA256(secret, <c>"{timestamp}.{body}"</c>).</summary>
    public static string SignConductor(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        return SignConductor(Encoding.UTF8.GetBytes(secret), timestamp, body);
    }

    /// <summary>As <see cref="SignConductor(string, long, ReadOnlySpan{byte})"/>, with the secret already as UTF-8 bytes.</summary>
    public static string SignConductor(ReadOnlySpan<byte> key, long timestamp, ReadOnlySpan<byte> body)
    {
        Span<byte> mac = stackalloc byte[32];
        Hmac(key, default, timestamp, body, mac);
        return string.Create(7 + 64, mac.ToArray(), static (chars, hash) =>
        {
            "sha256=".AsSpan().CopyTo(chars);
            Convert.TryToHexStringLower(hash, chars[7..], out _);
        });
    }

    /// <summary><c>v1,</c> + base64 HMAC-SHA256(key, <c>"{id}.{timestamp}.{body}"</c>), the key being the secret after <c>whsec_</c>.</summary>
    public static string SignStandardWebhooks(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body) =>
        SignStandardWebhooks(StandardWebhooksKey(secret), messageId, timestamp, body);

    /// <summary>As <see cref="SignStandardWebhooks(string, string, long, ReadOnlySpan{byte})"/>, with the key already decoded.</summary>
    public static string SignStandardWebhooks(ReadOnlySpan<byte> key, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        Span<byte> mac = stackalloc byte[32];
        Hmac(key, messageId, timestamp, body, mac);
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>Decodes a Standard Webhooks secret (<c>whsec_</c> + base64).</summary>
    /// <exception cref="FormatException">The secret is not base64 after the prefix; the message never contains the secret.</exception>
    public static byte[] StandardWebhooksKey(string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        var encoded = secret.StartsWith(StandardWebhooksSecretPrefix, StringComparison.Ordinal) ? secret[StandardWebhooksSecretPrefix.Length..] : secret;
        try
        {
            return Convert.FromBase64String(encoded);
        }
        catch (FormatException)
        {
            throw new FormatException("A Standard Webhooks secret must be 'whsec_' followed by base64; the configured secret is not (its value is not shown).");
        }
    }

    /// <summary>HMAC-SHA256 over <c>"[{id}.]{timestamp}.{body}"</c>, assembled in one pooled buffer.</summary>
    private static void Hmac(ReadOnlySpan<byte> key, string? messageId, long timestamp, ReadOnlySpan<byte> body, Span<byte> mac)
    {
        var idLength = messageId is null ? 0 : Encoding.UTF8.GetByteCount(messageId) + 1;
        var length = idLength + 21 + body.Length;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = 0;
            if (messageId is not null)
            {
                written = Encoding.UTF8.GetBytes(messageId, buffer);
                buffer[written++] = (byte)'.';
            }

            System.Buffers.Text.Utf8Formatter.TryFormat(timestamp, buffer.AsSpan(written), out var digits);
            written += digits;
            buffer[written++] = (byte)'.';
            body.CopyTo(buffer.AsSpan(written));
            written += body.Length;
            HMACSHA256.HashData(key, buffer.AsSpan(0, written), mac);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
