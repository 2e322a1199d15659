using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace Conductor.Sdk.Aws;

/// <summary>AWS credentials. The secret key and session token are never part of <see cref="ToString"/>.</summary>
/// <param name="accessKeyId">The access key id (AKIA… or ASIA…); it appears in the Authorization header.</param>
/// <param name="secretAccessKey">The secret access key; only used to derive the signing key.</param>
/// <param name="sessionToken">The session token of temporary credentials, sent as <c>X-Amz-Security-Token</c>; null for long-term keys.</param>
public sealed class AwsCredentials(string accessKeyId, string secretAccessKey, string? sessionToken = null)
{
    /// <summary>The access key id.</summary>
    public string AccessKeyId { get; } = accessKeyId;

    /// <summary>The secret access key.</summary>
    public string SecretAccessKey { get; } = secretAccessKey;

    /// <summary>The session token of temporary credentials, or null.</summary>
    public string? SessionToken { get; } = sessionToken;

    /// <summary>The access key id only; the secrets are left out.</summary>
    public override string ToString() => $"AwsCredentials {AccessKeyId} (secret hidden)";
}

/// <summary>
/// The parts of an HTTP request that Signature Version 4 covers.
/// </summary>
/// <param name="Method">The HTTP method, e.g. <c>POST</c>.</param>
/// <param name="Path">
/// The path as given to the signer, before the signer's own encoding: each segment is URI-encoded once more (for a path
/// taken from <see cref="Uri.AbsolutePath"/>, which is already encoded, this is the double encoding AWS requires of every
/// service but S3).
/// </param>
/// <param name="Query">The query string without <c>?</c> (percent-encoded or not); empty for none.</param>
/// <param name="Headers">The headers to sign, in order (a name may repeat); the signer adds <c>X-Amz-Date</c> itself.</param>
/// <param name="Body">The exact body bytes that will be sent.</param>
public sealed record AwsSigningRequest(string Method, string Path, string Query, IReadOnlyList<KeyValuePair<string, string>> Headers, ReadOnlyMemory<byte> Body)
{
    /// <summary>Removes <c>.</c> and <c>..</c> segments and empty segments from the path (every service but S3); default true.</summary>
    public bool NormalizePath { get; init; } = true;

    /// <summary>
    /// Signs <c>X-Amz-Security-Token</c> when the credentials have a session token (default true). When false the header
    /// is still added but left out of the signature, as a few services require.
    /// </summary>
    public bool SignSessionToken { get; init; } = true;

    /// <summary>Adds and signs an <c>x-amz-content-sha256</c> header with the body's hash (S3 style); default false.</summary>
    public bool AddContentSha256Header { get; init; }
}

/// <summary>
/// A computed signature with every intermediate result, so each step can be checked against AWS's test suite.
/// </summary>
/// <param name="AmzDate">The <c>X-Amz-Date</c> value, <c>yyyyMMddTHHmmssZ</c>.</param>
/// <param name="CredentialScope"><c>{date}/{region}/{service}/aws4_request</c>.</param>
/// <param name="CanonicalRequest">The canonical request (step 1).</param>
/// <param name="SignedHeaders">The signed header names, lowercase, sorted, separated by <c>;</c>.</param>
/// <param name="StringToSign">The string to sign (step 2).</param>
/// <param name="Signature">The signature, lowercase hex (step 4).</param>
/// <param name="Authorization">The <c>Authorization</c> header value.</param>
/// <param name="AddedHeaders">The headers the signer added and that must be sent: <c>X-Amz-Date</c>, and <c>X-Amz-Security-Token</c> / <c>x-amz-content-sha256</c> when used.</param>
public sealed record AwsSignature(
    string AmzDate,
    string CredentialScope,
    string CanonicalRequest,
    string SignedHeaders,
    string StringToSign,
    string Signature,
    string Authorization,
    IReadOnlyList<KeyValuePair<string, string>> AddedHeaders)
{
    /// <summary>The Authorization value only: the canonical request may hold a session token.</summary>
    public override string ToString() => Authorization;
}

/// <summary>
/// AWS Signature Version 4 (<c>AWS4-HMAC-SHA256</c>) for header-based authentication: canonical request, string to
/// sign, signing key derived from the secret, date, region and service, and the Authorization header. The time comes
/// from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class AwsSignatureV4(TimeProvider time)
{
    /// <summary>The algorithm name of the Authorization header and the string to sign.</summary>
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The content type of AWS query APIs (SNS, SES v1, STS): what <see cref="SignForm"/> sends.</summary>
    public const string FormContentType = "application/x-www-form-urlencoded; charset=utf-8";

    /// <summary>Signs a request at the current time of the injected <see cref="TimeProvider"/>.</summary>
    public AwsSignature Sign(AwsSigningRequest request, AwsCredentials credentials, string region, string service) =>
        Sign(request, credentials, region, service, time.GetUtcNow());

    /// <summary>
    /// Builds a signed <c>POST</c> of form fields to <paramref name="address"/> (the AWS query protocol): the body is the
    /// fields in the given order, RFC 3986 encoded, and host, content-type, x-amz-date and (when there is a session token)
    /// x-amz-security-token are signed.
    /// </summary>
    public HttpRequestMessage SignForm(Uri address, IEnumerable<KeyValuePair<string, string>> fields, AwsCredentials credentials, string region, string service)
    {
        ArgumentNullException.ThrowIfNull(address);
        var body = Encoding.UTF8.GetBytes(string.Join('&', fields.Select(f => UriEncode(f.Key, keepSlash: false) + "=" + UriEncode(f.Value, keepSlash: false))));
        var host = HostOf(address);
        var signing = new AwsSigningRequest(
            "POST",
            address.AbsolutePath,
            address.Query.TrimStart('?'),
            new[] { KeyValuePair.Create("Host", host), KeyValuePair.Create("Content-Type", FormContentType) },
            body);
        var signature = Sign(signing, credentials, region, service);
        var request = new HttpRequestMessage(HttpMethod.Post, address) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(FormContentType);
        request.Headers.Host = host;
        foreach (var (name, value) in signature.AddedHeaders) request.Headers.TryAddWithoutValidation(name, value);
        // The value is not a single scheme token + parameter the typed header accepts; sent as is.
        request.Headers.TryAddWithoutValidation("Authorization", signature.Authorization);
        return request;
    }

    /// <summary>Signs a request at the given time: everything else is a pure function of the inputs.</summary>
    public static AwsSignature Sign(AwsSigningRequest request, AwsCredentials credentials, string region, string service, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentException.ThrowIfNullOrEmpty(region);
        ArgumentException.ThrowIfNullOrEmpty(service);
        var utc = at.UtcDateTime;
        var amzDate = utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var scope = $"{date}/{region}/{service}/aws4_request";
        var payloadHash = Hex(SHA256.HashData(request.Body.Span));

        var added = new List<KeyValuePair<string, string>> { KeyValuePair.Create("X-Amz-Date", amzDate) };
        if (credentials.SessionToken is { Length: > 0 } token) added.Add(KeyValuePair.Create("X-Amz-Security-Token", token));
        if (request.AddContentSha256Header) added.Add(KeyValuePair.Create("x-amz-content-sha256", payloadHash));

        var signed = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Headers.Concat(added))
        {
            var key = name.Trim().ToLowerInvariant();
            if (key is "authorization" || (key is "x-amz-security-token" && !request.SignSessionToken)) continue;
            if (!signed.TryGetValue(key, out var values)) signed[key] = values = new List<string>();
            values.Add(CanonicalHeaderValue(value));
        }

        var canonical = new StringBuilder()
            .Append(request.Method.ToUpperInvariant()).Append('\n')
            .Append(CanonicalUri(request.Path, request.NormalizePath)).Append('\n')
            .Append(CanonicalQuery(request.Query)).Append('\n');
        foreach (var (name, values) in signed) canonical.Append(name).Append(':').Append(string.Join(',', values)).Append('\n');
        var signedHeaders = string.Join(';', signed.Keys);
        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(payloadHash);
        var canonicalRequest = canonical.ToString();

        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var signature = Hex(HMACSHA256.HashData(SigningKey(credentials.SecretAccessKey, date, region, service), Encoding.UTF8.GetBytes(stringToSign)));
        var authorization = $"{Algorithm} Credential={credentials.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new AwsSignature(amzDate, scope, canonicalRequest, signedHeaders, stringToSign, signature, authorization, added);
    }

    /// <summary>The signing key: HMAC-SHA256 chained over date (<c>yyyyMMdd</c>), region, service and <c>aws4_request</c>, keyed first with <c>"AWS4" + secret</c>.</summary>
    public static byte[] SigningKey(string secretAccessKey, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>
    /// The canonical URI: optionally normalized (no <c>.</c>, <c>..</c> or empty segments; a trailing slash kept), then
    /// each segment URI-encoded.
    /// </summary>
    public static string CanonicalUri(string path, bool normalize)
    {
        if (string.IsNullOrEmpty(path)) return "/";
        if (!normalize) return UriEncode(path, keepSlash: true);
        var raw = path.Split('/');
        var segments = new List<string>();
        foreach (var segment in raw)
        {
            if (segment is "" or ".") continue;
            if (segment is "..")
            {
                if (segments.Count > 0) segments.RemoveAt(segments.Count - 1);
                continue;
            }

            segments.Add(UriEncode(segment, keepSlash: false));
        }

        if (segments.Count == 0) return "/";
        var trailing = raw[^1] is "" or "." or "..";
        return "/" + string.Join('/', segments) + (trailing ? "/" : string.Empty);
    }

    /// <summary>The canonical query: each name and value decoded, then URI-encoded, sorted by name and then value.</summary>
    public static string CanonicalQuery(string query)
    {
        if (string.IsNullOrEmpty(query)) return string.Empty;
        var pairs = new List<(string Name, string Value)>();
        foreach (var part in query.Split('&'))
        {
            if (part.Length == 0) continue;
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? part : part[..equals];
            var value = equals < 0 ? string.Empty : part[(equals + 1)..];
            pairs.Add((UriEncode(Uri.UnescapeDataString(name), keepSlash: false), UriEncode(Uri.UnescapeDataString(value), keepSlash: false)));
        }

        return string.Join('&', pairs.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal).Select(p => p.Name + "=" + p.Value));
    }

    /// <summary>
    /// RFC 3986 encoding as AWS specifies it: A–Z, a–z, 0–9, <c>-</c>, <c>_</c>, <c>.</c> and <c>~</c> are kept, every
    /// other UTF-8 byte becomes <c>%XX</c> (uppercase); <c>/</c> is kept when <paramref name="keepSlash"/>.
    /// </summary>
    public static string UriEncode(string value, bool keepSlash)
    {
        var builder = new StringBuilder(value.Length);
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~' || (keepSlash && c == '/'))
            {
                builder.Append(c);
                continue;
            }

            var length = char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])
                ? Encoding.UTF8.GetBytes(value.AsSpan(i++, 2), bytes)
                : Encoding.UTF8.GetBytes(value.AsSpan(i, 1), bytes);
            foreach (var b in bytes[..length]) builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }

        return builder.ToString();
    }

    /// <summary>The Host header HttpClient sends for <paramref name="address"/>: host, and port when not the scheme's default.</summary>
    public static string HostOf(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var host = address.HostNameType == UriHostNameType.IPv6 ? address.Host : address.IdnHost;
        return address.IsDefaultPort ? host : host + ":" + address.Port.ToString(CultureInfo.InvariantCulture);
    }

    // Trimmed, with runs of whitespace (including folded lines) collapsed to one space.
    private static string CanonicalHeaderValue(string value)
    {
        var builder = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.AsSpan().Trim())
        {
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                space = true;
                continue;
            }

            if (space) builder.Append(' ');
            space = false;
            builder.Append(c);
        }

        return builder.ToString();
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
