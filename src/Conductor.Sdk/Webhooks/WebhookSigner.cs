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
        var mac = Hmac(Encoding.UTF8.GetBytes(secret), Prefix(timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)), body);
        return "sha256=" + Convert.ToHexStringLower(mac);
    }

    /// <summary><c>v1,</c> + base64 HMAC-SHA256(key, <c>"{id}.{timestamp}.{body}"</c>), the key being the secret after <c>whsec_</c>.</summary>
    public static string SignStandardWebhooks(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        var key = StandardWebhooksKey(secret);
        var mac = Hmac(key, Prefix(messageId + "." + timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)), body);
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

    private static byte[] Prefix(string text) => Encoding.UTF8.GetBytes(text + ".");

    private static byte[] Hmac(byte[] key, byte[] prefix, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }
}
