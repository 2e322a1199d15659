using System.Text;
using Conductor.Sdk.Webhooks;
using Xunit;

namespace Conductor.Sdk.Tests;

public sealed class SigningTests
{
    // DESIGN.md section 7 test vector.
    private static readonly byte[] DesignBody = Encoding.UTF8.GetBytes(
        "{\"event\":\"execution.completed\",\"timestamp\":\"2024-01-15T10:30:00.000Z\",\"data\":{\"ensemble\":\"demo\",\"id\":\"exec-123\"}}");
    private const string DesignSignature = "sha256=ff1ca12ac711d2b7e5f14796c14d76a4e5fb0aa290846fd97daea5ecd9aa5e68";
    private static readonly DateTimeOffset DesignNow = DateTimeOffset.FromUnixTimeSeconds(1705315200);

    // Standard Webhooks published test vector.
    private const string SwSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string SwId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long SwTimestamp = 1614265330;
    private static readonly byte[] SwBody = Encoding.UTF8.GetBytes("{\"test\": 2432232314}");
    private const string SwSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    [Fact]
    public void Conductor_signature_matches_the_design_test_vector() =>
        Assert.Equal(DesignSignature, WebhookSigner.SignConductor("test-secret", 1705315200, DesignBody));

    [Fact]
    public void Standard_webhooks_signature_matches_the_published_vector() =>
        Assert.Equal(SwSignature, WebhookSigner.SignStandardWebhooks(SwSecret, SwId, SwTimestamp, SwBody));

    [Fact]
    public void Verify_accepts_the_vector_and_rejects_tampering()
    {
        string[] secrets = { "test-secret" };
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.Verify(DesignBody, DesignSignature, "1705315200", secrets, DesignNow));
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.Verify(DesignBody, DesignSignature.ToUpperInvariant().Replace("SHA256=", "sha256="), "1705315200", secrets, DesignNow));

        var tampered = (byte[])DesignBody.Clone();
        tampered[^3] ^= 1;
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, WebhookSignature.Verify(tampered, DesignSignature, "1705315200", secrets, DesignNow));
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, WebhookSignature.Verify(DesignBody, DesignSignature, "1705315200", new[] { "other" }, DesignNow));
        // The timestamp is part of what is signed: moving it breaks the signature.
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, WebhookSignature.Verify(DesignBody, DesignSignature, "1705315201", secrets, DesignNow));
    }

    [Theory]
    [InlineData(300, WebhookVerificationResult.Valid)]
    [InlineData(-300, WebhookVerificationResult.Valid)]
    [InlineData(301, WebhookVerificationResult.StaleTimestamp)]
    [InlineData(-301, WebhookVerificationResult.StaleTimestamp)]
    public void Verify_enforces_the_timestamp_tolerance(int skewSeconds, WebhookVerificationResult expected) =>
        Assert.Equal(expected, WebhookSignature.Verify(DesignBody, DesignSignature, "1705315200", new[] { "test-secret" }, DesignNow.AddSeconds(skewSeconds)));

    [Theory]
    [InlineData(null, "1705315200")]
    [InlineData(DesignSignature, null)]
    [InlineData(DesignSignature, "yesterday")]
    [InlineData("", "1705315200")]
    public void Verify_reports_malformed_headers(string? signature, string? timestamp) =>
        Assert.Equal(WebhookVerificationResult.MissingHeader, WebhookSignature.Verify(DesignBody, signature, timestamp, new[] { "test-secret" }, DesignNow));

    [Fact]
    public void Verify_supports_secret_rotation_on_both_sides()
    {
        // The receiver knows the old and the new secret.
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.Verify(DesignBody, DesignSignature, "1705315200", new[] { "new-secret", "test-secret" }, DesignNow));
        // The sender signs with both; the receiver knows only the new one.
        var both = WebhookSigner.SignConductor("new-secret", 1705315200, DesignBody) + "," + DesignSignature;
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.Verify(DesignBody, both, "1705315200", new[] { "new-secret" }, DesignNow));
    }

    [Fact]
    public void Standard_webhooks_verification_uses_the_published_vector_and_rotation()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(SwTimestamp);
        var ts = SwTimestamp.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.VerifyStandardWebhooks(SwBody, SwId, ts, SwSignature, new[] { SwSecret }, now));
        var rotated = "v1,bm90LXRoaXMtb25l " + SwSignature;
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.VerifyStandardWebhooks(SwBody, SwId, ts, rotated, new[] { SwSecret }, now));
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, WebhookSignature.VerifyStandardWebhooks(SwBody, "msg_other", ts, SwSignature, new[] { SwSecret }, now));
        Assert.Equal(WebhookVerificationResult.MissingHeader, WebhookSignature.VerifyStandardWebhooks(SwBody, SwId, ts, "v2,abc", new[] { SwSecret }, now));
        Assert.Equal(WebhookVerificationResult.StaleTimestamp, WebhookSignature.VerifyStandardWebhooks(SwBody, SwId, ts, SwSignature, new[] { SwSecret }, now.AddMinutes(6)));
    }

    [Fact]
    public void A_bad_standard_webhooks_secret_is_reported_without_its_value()
    {
        var error = Assert.Throws<FormatException>(() => WebhookSigner.SignStandardWebhooks("whsec_not*base64!", SwId, SwTimestamp, SwBody));
        Assert.DoesNotContain("not*base64", error.Message);
        Assert.Contains("whsec_", error.Message);
    }

    [Fact]
    public void Signing_with_a_kept_keyed_hmac_matches_the_one_shot_signature_across_many_keys_and_threads()
    {
        // More keys than a thread keeps, used in turn, from several threads: every signature must equal the one-shot one.
        var keys = Enumerable.Range(0, 7).Select(i => System.Text.Encoding.UTF8.GetBytes($"secret-{i}")).ToArray();
        var body = System.Text.Encoding.UTF8.GetBytes("{\"event\":\"execution.completed\"}");
        Parallel.For(0, 2000, i =>
        {
            var key = keys[i % keys.Length];
            var timestamp = 1705315200L + i;
            Assert.Equal(WebhookSigner.SignConductor((ReadOnlySpan<byte>)key, timestamp, body), WebhookSigner.SignConductorWithKeptKey(key, timestamp, body));
            Assert.Equal(WebhookSigner.SignStandardWebhooks((ReadOnlySpan<byte>)key, "msg_" + i, timestamp, body), WebhookSigner.SignStandardWebhooksWithKeptKey(key, "msg_" + i, timestamp, body));
        });
    }
}
