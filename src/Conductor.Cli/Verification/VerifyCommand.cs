using Conductor.Sdk.Webhooks;

namespace Conductor.Cli.Verification;

/// <summary>
/// <c>conductor verify</c>: checks a recorded webhook's signature with the receivers' own verifier
/// (<see cref="WebhookSignature"/>). The timestamp tolerance is unlimited unless <c>--tolerance</c> is given, because
/// the point is usually to check a request captured earlier.
/// </summary>
internal static class VerifyCommand
{
    /// <summary>The environment variable read when no <c>--secret</c> is given, so a secret need not be typed into shell history.</summary>
    public const string SecretVariable = "CONDUCTOR_WEBHOOK_SECRET";

    public static int Run(
        CliEnvironment env, IReadOnlyList<string> secrets, string timestamp, string signature, string body,
        string format, string? id, string? tolerance)
    {
        var allSecrets = secrets.Where(s => s.Length > 0).ToList();
        if (allSecrets.Count == 0 && Environment.GetEnvironmentVariable(SecretVariable) is { Length: > 0 } fromEnvironment) allSecrets.Add(fromEnvironment);
        if (allSecrets.Count == 0) throw new CliUsageException($"No secret: pass --secret <secret> (repeat it to try several) or set {SecretVariable}.");

        var bytes = ReadBody(body);
        var limit = tolerance is null || tolerance.Equals("unlimited", StringComparison.OrdinalIgnoreCase) ? TimeSpan.MaxValue : Durations.Parse(tolerance, "--tolerance");
        var now = env.Time.GetUtcNow();
        WebhookVerificationResult result;
        WebhookSignatureFormat signatureFormat;
        switch (format.ToLowerInvariant())
        {
            case "conductor":
                signatureFormat = WebhookSignatureFormat.Conductor;
                result = WebhookSignature.Verify(bytes, signature, timestamp, allSecrets, now, limit);
                break;
            case "standard-webhooks":
                signatureFormat = WebhookSignatureFormat.StandardWebhooks;
                if (string.IsNullOrEmpty(id)) throw new CliUsageException("--format standard-webhooks signs the message id too: pass --id <webhook-id header value>.");
                try
                {
                    result = WebhookSignature.VerifyStandardWebhooks(bytes, id, timestamp, signature, allSecrets, now, limit);
                }
                catch (FormatException ex)
                {
                    throw new CliUsageException(ex.Message);
                }

                break;
            default:
                throw new CliUsageException($"--format '{format}' is not known; use conductor (X-Conductor-Signature) or standard-webhooks (webhook-signature).");
        }

        if (result == WebhookVerificationResult.Valid)
        {
            env.Out.WriteLine($"valid: {WebhookSignature.Describe(result, signatureFormat)}.");
            return ExitCodes.Success;
        }

        env.Out.WriteLine($"invalid ({result}): {WebhookSignature.Describe(result, signatureFormat)}.");
        env.Out.WriteLine(result switch
        {
            WebhookVerificationResult.MissingHeader => signatureFormat == WebhookSignatureFormat.StandardWebhooks
                ? "Check --id, --timestamp (Unix seconds) and --signature (space-separated 'v1,<base64>' entries)."
                : "Check --timestamp (Unix seconds, the X-Conductor-Timestamp header) and --signature (the X-Conductor-Signature header, 'sha256=<hex>').",
            WebhookVerificationResult.StaleTimestamp => $"The timestamp is more than {limit.TotalSeconds:0} s from now ({now.ToUnixTimeSeconds()}); drop --tolerance to check a recorded request offline.",
            _ => "Check that --body holds the exact bytes received (use --body @file to avoid shell quoting and trailing newlines) and that the secret is the receiver's.",
        });
        return ExitCodes.Failure;
    }

    /// <summary>The body: the bytes of a file for <c>@path</c>, otherwise the argument's UTF-8 bytes exactly as given.</summary>
    private static byte[] ReadBody(string body)
    {
        if (!body.StartsWith('@')) return System.Text.Encoding.UTF8.GetBytes(body);
        var path = body[1..];
        if (!File.Exists(path)) throw new CliUsageException($"--body file '{path}' does not exist (an argument starting with @ names a file; the bytes are read as they are).");
        return File.ReadAllBytes(path);
    }
}
