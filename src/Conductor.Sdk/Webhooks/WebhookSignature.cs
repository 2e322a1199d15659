using System.Security.Cryptography;
using System.Text;

namespace Conductor.Sdk.Webhooks;

/// <summary>Why a webhook was rejected, or that it was accepted.</summary>
public enum WebhookVerificationResult
{
    /// <summary>A signature matched one of the secrets and the timestamp is fresh.</summary>
    Valid,
    /// <summary>The signature, timestamp or id header is missing or unreadable.</summary>
    MissingHeader,
    /// <summary>The timestamp is further than the tolerance from now (a replayed old request, or a skewed clock).</summary>
    StaleTimestamp,
    /// <summary>No secret produces the given signature.</summary>
    SignatureMismatch,
}

/// <summary>
/// Receiver-side verification for both formats: constant-time comparison, a timestamp tolerance
/// (±300 s by default) and several secrets, so a secret can be rotated without downtime.
/// </summary>
public static class WebhookSignature
{
    /// <summary>The default allowed distance between the webhook's timestamp and the receiver's clock.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromSeconds(300);

    /// <summary>
    /// Verifies a Conductor-format webhook: <paramref name="signatureHeader"/> is <c>X-Conductor-Signature</c>,
    /// <paramref name="timestampHeader"/> is <c>X-Conductor-Timestamp</c>, <paramref name="body"/> the raw request body.
    /// </summary>
    public static WebhookVerificationResult Verify(
        ReadOnlySpan<byte> body, string? signatureHeader, string? timestampHeader, IEnumerable<string> secrets,
        DateTimeOffset now, TimeSpan? tolerance = null)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        if (string.IsNullOrWhiteSpace(signatureHeader) || !TryTimestamp(timestampHeader, out var timestamp)) return WebhookVerificationResult.MissingHeader;
        if (!Fresh(timestamp, now, tolerance)) return WebhookVerificationResult.StaleTimestamp;

        // Several signatures may be sent (comma- or space-separated) while the sender rotates secrets.
        var candidates = signatureHeader.Split(new[] { ',', ' ' }, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var secret in secrets)
        {
            if (string.IsNullOrEmpty(secret)) continue;
            var expected = Encoding.ASCII.GetBytes(WebhookSigner.SignConductor(secret, timestamp, body));
            foreach (var candidate in candidates)
            {
                if (CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(candidate.ToLowerInvariant()))) return WebhookVerificationResult.Valid;
            }
        }

        return WebhookVerificationResult.SignatureMismatch;
    }

    /// <summary>
    /// Verifies a Standard Webhooks request: <c>webhook-id</c>, <c>webhook-timestamp</c> and <c>webhook-signature</c>
    /// (space-separated <c>v1,&lt;base64&gt;</c> entries), against one or more <c>whsec_</c> secrets.
    /// </summary>
    public static WebhookVerificationResult VerifyStandardWebhooks(
        ReadOnlySpan<byte> body, string? messageId, string? timestampHeader, string? signatureHeader, IEnumerable<string> secrets,
        DateTimeOffset now, TimeSpan? tolerance = null)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        if (string.IsNullOrWhiteSpace(messageId) || string.IsNullOrWhiteSpace(signatureHeader) || !TryTimestamp(timestampHeader, out var timestamp))
        {
            return WebhookVerificationResult.MissingHeader;
        }

        if (!Fresh(timestamp, now, tolerance)) return WebhookVerificationResult.StaleTimestamp;
        var candidates = new List<byte[]>();
        foreach (var entry in signatureHeader.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var comma = entry.IndexOf(',');
            if (comma > 0 && entry[..comma] == "v1") candidates.Add(Encoding.ASCII.GetBytes(entry[(comma + 1)..]));
        }

        if (candidates.Count == 0) return WebhookVerificationResult.MissingHeader;
        foreach (var secret in secrets)
        {
            if (string.IsNullOrEmpty(secret)) continue;
            var expected = Encoding.ASCII.GetBytes(WebhookSigner.SignStandardWebhooks(secret, messageId, timestamp, body)["v1,".Length..]);
            foreach (var candidate in candidates)
            {
                if (CryptographicOperations.FixedTimeEquals(expected, candidate)) return WebhookVerificationResult.Valid;
            }
        }

        return WebhookVerificationResult.SignatureMismatch;
    }

    /// <summary>A sentence for logs and error responses explaining a result.</summary>
    public static string Describe(WebhookVerificationResult result, WebhookSignatureFormat format = WebhookSignatureFormat.Conductor) => result switch
    {
        WebhookVerificationResult.Valid => "the signature is valid",
        WebhookVerificationResult.MissingHeader => format == WebhookSignatureFormat.StandardWebhooks
            ? "the webhook-id, webhook-timestamp or webhook-signature header is missing or unreadable"
            : "the X-Conductor-Signature or X-Conductor-Timestamp header is missing or unreadable",
        WebhookVerificationResult.StaleTimestamp => "the timestamp is outside the allowed tolerance (a replayed request, or a clock out of sync)",
        WebhookVerificationResult.SignatureMismatch => "the signature does not match the body with any configured secret",
        _ => result.ToString(),
    };

    private static bool TryTimestamp(string? header, out long timestamp) =>
        long.TryParse(header, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out timestamp);

    private static bool Fresh(long timestamp, DateTimeOffset now, TimeSpan? tolerance)
    {
        var allowed = (long)(tolerance ?? DefaultTolerance).TotalSeconds;
        return Math.Abs(now.ToUnixTimeSeconds() - timestamp) <= allowed;
    }
}
