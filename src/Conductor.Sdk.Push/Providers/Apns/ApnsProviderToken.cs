using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;

namespace Conductor.Sdk.Push;

/// <summary>
/// The APNs provider authentication token: an ES256 JWT with header <c>{"alg":"ES256","kid":KeyId}</c> and claims
/// <c>{"iss":TeamId,"iat":seconds}</c>, signed with the team's .p8 key. Apple refuses tokens older than an hour and
/// answers TooManyProviderTokenUpdates when a provider renews more often than every 20 minutes, so one token is shared
/// by every send until it is <see cref="ReuseFor"/> old, and a token Apple calls expired is replaced only once it is at
/// least <see cref="MinimumAge"/> old.
/// </summary>
internal sealed class ApnsProviderToken(ECDsa key, string keyId, string teamId, TimeProvider time)
{
    /// <summary>How long a token is used before a new one is made (Apple accepts up to 60 minutes).</summary>
    public static readonly TimeSpan ReuseFor = TimeSpan.FromMinutes(50);

    /// <summary>The youngest a token may be when it is replaced (Apple's lower bound).</summary>
    public static readonly TimeSpan MinimumAge = TimeSpan.FromMinutes(20);

    private readonly Lock _gate = new();
    private Issued? _current;

    /// <summary>A signed token and the <c>iat</c> it carries.</summary>
    public sealed record Issued(string Jwt, DateTimeOffset IssuedAt);

    /// <summary>The token to send now: the current one while it is younger than <see cref="ReuseFor"/>, else a new one.</summary>
    public Issued Current()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_current is { } current && now - current.IssuedAt < ReuseFor) return current;
            return _current = Create(now);
        }
    }

    /// <summary>
    /// Replaces a token Apple rejected as expired. Returns the token to retry with (a newer one another send already
    /// made, or a new one), or null when <paramref name="rejected"/> is younger than <see cref="MinimumAge"/> and may
    /// not be replaced yet.
    /// </summary>
    public Issued? Renew(Issued rejected)
    {
        lock (_gate)
        {
            if (_current is { } current && !ReferenceEquals(current, rejected)) return current;
            var now = time.GetUtcNow();
            if (now - rejected.IssuedAt < MinimumAge) return null;
            return _current = Create(now);
        }
    }

    private Issued Create(DateTimeOffset now)
    {
        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var header = Encode(json =>
        {
            json.WriteString("alg", "ES256");
            json.WriteString("kid", keyId);
        });
        var claims = Encode(json =>
        {
            json.WriteString("iss", teamId);
            json.WriteNumber("iat", issuedAt.ToUnixTimeSeconds());
        });
        var signingInput = header + "." + claims;
        // JWS ES256 wants r || s (IEEE P1363), not the DER sequence some platforms default to.
        var signature = key.SignData(System.Text.Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new Issued(signingInput + "." + Base64Url.EncodeToString(signature), issuedAt);
    }

    private static string Encode(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }

        return Base64Url.EncodeToString(buffer.WrittenSpan);
    }
}
