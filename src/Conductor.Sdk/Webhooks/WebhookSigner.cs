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
    public static string SignConductor(ReadOnlySpan<byte> key, long timestamp, ReadOnlySpan<byte> body) =>
        Conductor(key, null, timestamp, body);

    /// <summary><c>v1,</c> + base64 HMAC-SHA256(key, <c>"{id}.{timestamp}.{body}"</c>), the key being the secret after <c>whsec_</c>.</summary>
    public static string SignStandardWebhooks(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body) =>
        SignStandardWebhooks(StandardWebhooksKey(secret), messageId, timestamp, body);

    /// <summary>As <see cref="SignStandardWebhooks(string, string, long, ReadOnlySpan{byte})"/>, with the key already decoded.</summary>
    public static string SignStandardWebhooks(ReadOnlySpan<byte> key, string messageId, long timestamp, ReadOnlySpan<byte> body) =>
        StandardWebhooks(key, null, messageId, timestamp, body);

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

    /// <summary>
    /// As <see cref="SignConductor(ReadOnlySpan{byte}, long, ReadOnlySpan{byte})"/> for a key that is signed with again and
    /// again (a notification's secret): this thread's keyed HMAC for that array is reused.
    /// </summary>
    internal static string SignConductorWithKeptKey(byte[] key, long timestamp, ReadOnlySpan<byte> body) =>
        Conductor(key, key, timestamp, body);

    /// <summary>As <see cref="SignStandardWebhooks(ReadOnlySpan{byte}, string, long, ReadOnlySpan{byte})"/>, reusing this thread's keyed HMAC for <paramref name="key"/>.</summary>
    internal static string SignStandardWebhooksWithKeptKey(byte[] key, string messageId, long timestamp, ReadOnlySpan<byte> body) =>
        StandardWebhooks(key, key, messageId, timestamp, body);

    private static string Conductor(ReadOnlySpan<byte> key, byte[]? kept, long timestamp, ReadOnlySpan<byte> body)
    {
        Span<byte> mac = stackalloc byte[32];
        Hmac(key, kept, null, timestamp, body, mac);
        Span<char> chars = stackalloc char[7 + 64];
        "sha256=".AsSpan().CopyTo(chars);
        Convert.TryToHexStringLower(mac, chars[7..], out _);
        return new string(chars);
    }

    private static string StandardWebhooks(ReadOnlySpan<byte> key, byte[]? kept, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        Span<byte> mac = stackalloc byte[32];
        Hmac(key, kept, messageId, timestamp, body, mac);
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>
    /// HMAC-SHA256 over <c>"[{id}.]{timestamp}.{body}"</c>, assembled in one pooled buffer. With <paramref name="kept"/> (the
    /// same key as an array that lives on), this thread's keyed HMAC for it is used: the key's inner and outer pads are
    /// computed once instead of for every attempt.
    /// </summary>
    private static void Hmac(ReadOnlySpan<byte> key, byte[]? kept, string? messageId, long timestamp, ReadOnlySpan<byte> body, Span<byte> mac)
    {
        var idLength = messageId is null ? 0 : Encoding.UTF8.GetByteCount(messageId) + 1;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(idLength + 21 + body.Length);
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
            var message = buffer.AsSpan(0, written);
            if (kept is null)
            {
                HMACSHA256.HashData(key, message, mac);
            }
            else
            {
                var hmac = KeyedHmacs.For(kept);
                hmac.AppendData(message);
                hmac.GetHashAndReset(mac);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A few keyed HMAC-SHA256 instances per thread, found by the key array's identity (keys are never changed in place).</summary>
    private static class KeyedHmacs
    {
        private const int PerThread = 4;
        [ThreadStatic] private static byte[]?[]? t_keys;
        [ThreadStatic] private static IncrementalHash?[]? t_hmacs;
        [ThreadStatic] private static int t_next;

        public static IncrementalHash For(byte[] key)
        {
            var keys = t_keys ??= new byte[]?[PerThread];
            var hmacs = t_hmacs ??= new IncrementalHash?[PerThread];
            for (var i = 0; i < PerThread; i++)
            {
                if (ReferenceEquals(keys[i], key)) return hmacs[i]!;
            }

            var slot = t_next;
            t_next = (slot + 1) % PerThread;
            hmacs[slot]?.Dispose();
            hmacs[slot] = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
            keys[slot] = key;
            return hmacs[slot]!;
        }
    }
}
