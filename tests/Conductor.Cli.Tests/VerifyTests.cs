namespace Conductor.Cli.Tests;

public sealed class VerifyTests
{
    // DESIGN.md section 7.
    private const string Body = """{"event":"execution.completed","timestamp":"2024-01-15T10:30:00.000Z","data":{"ensemble":"demo","id":"exec-123"}}""";
    private const string Signature = "sha256=ff1ca12ac711d2b7e5f14796c14d76a4e5fb0aa290846fd97daea5ecd9aa5e68";

    [Fact]
    public async Task The_design_test_vector_is_valid_even_long_after_its_timestamp()
    {
        // The fake clock is years after the vector: offline checks have no tolerance by default.
        var result = await CliRun.RunAsync(new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            "verify", "--secret", "test-secret", "--timestamp", "1705315200", "--signature", Signature, "--body", Body);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("valid: the signature is valid.\n", result.Out);
    }

    [Fact]
    public async Task A_tampered_body_is_invalid_with_the_reason()
    {
        var result = await CliRun.RunAsync("verify", "--secret", "test-secret", "--timestamp", "1705315200", "--signature", Signature,
            "--body", Body.Replace("exec-123", "exec-124"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("invalid (SignatureMismatch): the signature does not match the body with any configured secret.\n", result.Out);
    }

    [Fact]
    public async Task A_body_file_is_read_as_exact_bytes_and_a_trailing_newline_breaks_the_signature()
    {
        using var folder = new TempFolder();
        var exact = folder.Write("exact.json", Body);
        var withNewline = folder.Write("newline.json", Body + "\n");

        var valid = await CliRun.RunAsync("verify", "--secret", "test-secret", "--timestamp", "1705315200", "--signature", Signature, "--body", "@" + exact);
        var invalid = await CliRun.RunAsync("verify", "--secret", "test-secret", "--timestamp", "1705315200", "--signature", Signature, "--body", "@" + withNewline);

        Assert.Equal(0, valid.ExitCode);
        Assert.Equal(1, invalid.ExitCode);
    }

    [Fact]
    public async Task A_tolerance_rejects_an_old_timestamp()
    {
        var result = await CliRun.RunAsync("verify", "--secret", "test-secret", "--timestamp", "1705315200", "--signature", Signature, "--body", Body,
            "--tolerance", "60s");

        // The default fake clock is 2024-01-15T10:30:15Z, 1815 s after the vector's timestamp.
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("invalid (StaleTimestamp): ", result.Out);
    }

    [Fact]
    public async Task A_second_secret_verifies_during_rotation_and_the_wrong_one_alone_does_not()
    {
        var rotated = await CliRun.RunAsync("verify", "--secret", "new-secret", "--secret", "test-secret", "--timestamp", "1705315200", "--signature", Signature, "--body", Body);
        var wrong = await CliRun.RunAsync("verify", "--secret", "new-secret", "--timestamp", "1705315200", "--signature", Signature, "--body", Body);

        Assert.Equal(0, rotated.ExitCode);
        Assert.Equal(1, wrong.ExitCode);
        Assert.DoesNotContain("new-secret", wrong.Out + wrong.Error);
    }

    [Fact]
    public async Task The_standard_webhooks_published_vector_verifies_and_a_wrong_id_does_not()
    {
        string[] Args(string id) => new[]
        {
            "verify", "--format", "standard-webhooks", "--id", id, "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "--timestamp", "1614265330", "--signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "--body", "{\"test\": 2432232314}",
        };

        var valid = await CliRun.RunAsync(Args("msg_p5jXN8AQM9LWM0D4loKWxJek"));
        var invalid = await CliRun.RunAsync(Args("msg_other"));

        Assert.Equal(0, valid.ExitCode);
        Assert.Equal(1, invalid.ExitCode);
        Assert.StartsWith("invalid (SignatureMismatch)", invalid.Out);
    }

    [Fact]
    public async Task A_malformed_command_line_exits_2_not_1()
    {
        var result = await CliRun.RunAsync("verify", "--secret", "test-secret");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--timestamp", result.Error);
    }
}
