using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lib.Net.Http.WebPush.Authentication;

namespace Conductor.Sdk.Push;

/// <summary>
/// Issues the VAPID JWTs (RFC 8292) and keeps one per push service origin until it nears expiry.
/// </summary>
/// <remarks>
/// Lib.Net.Http.WebPush signs its own tokens with <c>DateTime.UtcNow</c> and an audience of scheme and host only,
/// dropping a non-default port. The tokens are issued here instead, through the library's
/// <see cref="IVapidTokenCache"/> hook, so that <c>aud</c> is the full origin and <c>exp</c> follows the injected
/// <see cref="TimeProvider"/>.
/// </remarks>
internal sealed class VapidTokenIssuer : IDisposable
{
    /// <summary>How long a token is valid; RFC 8292 allows at most 24 hours.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    /// <summary>A cached token is replaced once less than this is left, so none expires in flight.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromHours(1);

    // Push services live on a handful of origins; the bound only guards against an unbounded set of endpoints.
    private const int MaxOrigins = 1024;

    private static readonly string Header = WebPushKeys.Encode("""{"typ":"JWT","alg":"ES256"}"""u8);

    private readonly ECDsa _key;
    private readonly string _subject;
    private readonly TimeProvider _time;
    private readonly string _publicKey;
    private readonly string _privateKey;
    private readonly Lock _signing = new();
    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> _byOrigin = new(StringComparer.Ordinal);

    public VapidTokenIssuer(ECDsa key, string subject, TimeProvider time)
    {
        _key = key;
        _subject = subject;
        _time = time;
        // The library decodes base64url only, so it gets the canonical form of whatever the app configured.
        var parameters = key.ExportParameters(true);
        _publicKey = WebPushKeys.Encode([0x04, .. parameters.Q.X!, .. parameters.Q.Y!]);
        _privateKey = WebPushKeys.Encode(parameters.D);
        CryptographicOperations.ZeroMemory(parameters.D);
    }

    /// <summary>A token for requests to <paramref name="origin"/> (the push resource's scheme, host and port).</summary>
    public string TokenFor(string origin)
    {
        var now = _time.GetUtcNow();
        if (_byOrigin.TryGetValue(origin, out var cached) && cached.Expires - now > RenewBefore) return cached.Token;
        var expires = DateTimeOffset.FromUnixTimeSeconds((now + Lifetime).ToUnixTimeSeconds());
        var token = Sign(origin, expires);
        if (_byOrigin.Count >= MaxOrigins) _byOrigin.Clear();
        _byOrigin[origin] = (token, expires);
        return token;
    }

    private string Sign(string origin, DateTimeOffset expires)
    {
        var claims = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(claims))
        {
            writer.WriteStartObject();
            writer.WriteString("aud", origin);
            writer.WriteNumber("exp", expires.ToUnixTimeSeconds());
            writer.WriteString("sub", _subject);
            writer.WriteEndObject();
        }

        var signingInput = Header + "." + WebPushKeys.Encode(claims.WrittenSpan);
        byte[] signature;
        // ECDsa instances are not documented as safe for concurrent use.
        lock (_signing)
        {
            signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }

        return signingInput + "." + WebPushKeys.Encode(signature);
    }

    /// <summary>
    /// The library's authentication for one request to <paramref name="origin"/>: it insists on a
    /// <see cref="VapidAuthentication"/> of its own, whose token cache hands it the token issued here.
    /// </summary>
    public VapidAuthentication Authenticate(string origin) => new(_publicKey, _privateKey) { TokenCache = new Issued(TokenFor(origin)) };

    public void Dispose() => _key.Dispose();

    /// <summary>Hands one issued token to the library for one request; the library's own signer is never used.</summary>
    private sealed class Issued(string token) : IVapidTokenCache
    {
        public string Get(string audience) => token;

        public void Put(string audience, DateTimeOffset expiration, string token)
        {
        }
    }
}
