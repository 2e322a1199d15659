using System.Text;
using Conductor.Sdk.Webhooks;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #19 point 5: the receiver-side verifier against hostile and unusual requests. Each row says what a sender
/// changed and what the verifier must answer (the signatures are made with the SDK's own signer).
/// </summary>
public sealed class VerifierMatrixTests
{
    private const string Secret = "whsec-matrix";
    private const long Timestamp = 1_705_315_200;
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(Timestamp);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"event\":\"execution.completed\",\"data\":{\"id\":\"exec-1\"}}");

    public static TheoryData<string, WebhookVerificationResult> ConductorCases() => new()
    {
        { "as sent", WebhookVerificationResult.Valid },
        { "body tampered", WebhookVerificationResult.SignatureMismatch },
        { "wrong secret", WebhookVerificationResult.SignatureMismatch },
        { "signature in upper case", WebhookVerificationResult.Valid },
        { "old and new signature (rotation)", WebhookVerificationResult.Valid },
        { "signature header twice (joined)", WebhookVerificationResult.Valid },
        { "signature missing", WebhookVerificationResult.MissingHeader },
        { "timestamp missing", WebhookVerificationResult.MissingHeader },
        { "timestamp not a number", WebhookVerificationResult.MissingHeader },
        { "timestamp header twice", WebhookVerificationResult.MissingHeader },
        { "timestamp 301 s old", WebhookVerificationResult.StaleTimestamp },
        { "timestamp 301 s ahead", WebhookVerificationResult.StaleTimestamp },
        { "timestamp 300 s old (at the tolerance)", WebhookVerificationResult.Valid },
        { "signature of another timestamp", WebhookVerificationResult.SignatureMismatch },
        { "signature without its sha256= prefix", WebhookVerificationResult.SignatureMismatch },
        { "ten thousand wrong signatures", WebhookVerificationResult.SignatureMismatch },
    };

    [Theory]
    [MemberData(nameof(ConductorCases))]
    public void Conductor_signatures(string change, WebhookVerificationResult expected)
    {
        var body = Body;
        var secrets = new[] { Secret };
        var now = Now;
        var timestamp = Timestamp;
        var signature = WebhookSigner.SignConductor(Secret, Timestamp, Body);
        string? signatureHeader = signature;
        string? timestampHeader = Timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture);
        switch (change)
        {
            case "body tampered": body = Encoding.UTF8.GetBytes("{\"event\":\"execution.completed\",\"data\":{\"id\":\"exec-2\"}}"); break;
            case "wrong secret": secrets = new[] { "whsec-other" }; break;
            case "signature in upper case": signatureHeader = "sha256=" + signature["sha256=".Length..].ToUpperInvariant(); break;
            case "old and new signature (rotation)":
                secrets = new[] { "whsec-old", Secret };
                signatureHeader = WebhookSigner.SignConductor("whsec-old-unknown", Timestamp, Body) + "," + signature;
                break;
            case "signature header twice (joined)": signatureHeader = "sha256=00," + signature; break; // how ASP.NET Core joins a repeated header
            case "signature missing": signatureHeader = null; break;
            case "timestamp missing": timestampHeader = null; break;
            case "timestamp not a number": timestampHeader = "yesterday"; break;
            case "timestamp header twice": timestampHeader = timestampHeader + "," + timestampHeader; break;
            case "timestamp 301 s old": now = Now.AddSeconds(301); break;
            case "timestamp 301 s ahead": now = Now.AddSeconds(-301); break;
            case "timestamp 300 s old (at the tolerance)": now = Now.AddSeconds(300); break;
            case "signature of another timestamp": timestampHeader = (timestamp + 1).ToString(System.Globalization.CultureInfo.InvariantCulture); break;
            case "signature without its sha256= prefix": signatureHeader = signature["sha256=".Length..]; break;
            case "ten thousand wrong signatures": signatureHeader = string.Join(",", Enumerable.Repeat("sha256=" + new string('0', 64), 10_000)); break;
        }

        Assert.Equal(expected, WebhookSignature.Verify(body, signatureHeader, timestampHeader, secrets, now));
        Conductor.Sdk.Testing.ReliabilityResults.Record("Verifier", expected.ToString(), expected.ToString(), change);
    }

    [Fact]
    public void A_non_ascii_secret_signs_and_verifies_by_its_utf8_bytes()
    {
        const string secret = "sécret-ünïcode-密钥";
        var signature = WebhookSigner.SignConductor(secret, Timestamp, Body);
        var timestamp = Timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(WebhookVerificationResult.Valid, WebhookSignature.Verify(Body, signature, timestamp, new[] { secret }, Now));
        // A receiver that folded the secret to ASCII does not accept it.
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, WebhookSignature.Verify(Body, signature, timestamp, new[] { "secret-unicode-??" }, Now));
        // An empty secret in the list is skipped, never a match for anything.
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, WebhookSignature.Verify(Body, WebhookSigner.SignConductor(" ", Timestamp, Body), timestamp, new[] { string.Empty }, Now));
    }

    [Fact]
    public void Standard_webhooks_signatures_cover_the_id_the_timestamp_and_the_body()
    {
        const string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        const string id = "msg_matrix";
        var signature = WebhookSigner.SignStandardWebhooks(secret, id, Timestamp, Body);
        var timestamp = Timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture);
        WebhookVerificationResult Verify(string? messageId, string? ts, string? sig, byte[] body, params string[] secrets) =>
            WebhookSignature.VerifyStandardWebhooks(body, messageId, ts, sig, secrets, Now);

        Assert.Equal(WebhookVerificationResult.Valid, Verify(id, timestamp, signature, Body, secret));
        Assert.Equal(WebhookVerificationResult.Valid, Verify(id, timestamp, "v1,AAAA " + signature, Body, secret)); // several signatures (rotation)
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, Verify("msg_other", timestamp, signature, Body, secret));
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, Verify(id, timestamp, signature, Encoding.UTF8.GetBytes("{}"), secret));
        Assert.Equal(WebhookVerificationResult.SignatureMismatch, Verify(id, timestamp, signature, Body, "whsec_" + Convert.ToBase64String(new byte[24])));
        Assert.Equal(WebhookVerificationResult.MissingHeader, Verify(null, timestamp, signature, Body, secret));
        Assert.Equal(WebhookVerificationResult.MissingHeader, Verify(id, null, signature, Body, secret));
        Assert.Equal(WebhookVerificationResult.StaleTimestamp, Verify(id, (Timestamp - 301).ToString(System.Globalization.CultureInfo.InvariantCulture), signature, Body, secret));
    }
}
