using System.Buffers.Text;
using System.Security.Cryptography;

namespace Conductor.Sdk.Push;

/// <summary>
/// Decoding and checking of the P-256 keys Web Push uses (VAPID keys, subscription p256dh). Problems are described by
/// size and shape only, never by echoing the key.
/// </summary>
internal static class WebPushKeys
{
    /// <summary>An uncompressed P-256 point: 0x04, X, Y.</summary>
    public const int PublicKeyLength = 65;

    /// <summary>A P-256 private scalar.</summary>
    public const int PrivateKeyLength = 32;

    /// <summary>The subscription's authentication secret (RFC 8291 section 3.2).</summary>
    public const int AuthSecretLength = 16;

    /// <summary>
    /// Decodes base64url; standard base64 (+, /, padding) is accepted too, because apps often store subscriptions
    /// that went through a base64 encoder of their own.
    /// </summary>
    public static byte[]? Decode(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var normalized = text.Trim().Replace('+', '-').Replace('/', '_').TrimEnd('=');
        try
        {
            return Base64Url.DecodeFromChars(normalized);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static string Encode(ReadOnlySpan<byte> bytes) => Base64Url.EncodeToString(bytes);

    /// <summary>Whether <paramref name="point"/> is an uncompressed point on P-256; the problem otherwise.</summary>
    public static string? CheckPublicKey(byte[]? point)
    {
        if (point is null) return "is missing or not base64url";
        if (point.Length != PublicKeyLength || point[0] != 0x04)
        {
            return $"must be an uncompressed P-256 point ({PublicKeyLength} bytes starting with 0x04), found {point.Length} bytes";
        }

        try
        {
            using var key = ECDiffieHellman.Create(PublicParameters(point));
            return null;
        }
        catch (CryptographicException)
        {
            return "is not a point on the P-256 curve";
        }
    }

    public static ECParameters PublicParameters(byte[] point) => new()
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = point[1..33], Y = point[33..65] },
    };

    /// <summary>
    /// Builds the signing key from a VAPID key pair, or says what is wrong with it: the public key is derived from the
    /// private one and must be the configured public key, since browsers bind a subscription to that public key.
    /// </summary>
    public static (ECDsa? Key, string? Problem) CreateSigningKey(string? publicKey, string? privateKey)
    {
        var point = Decode(publicKey);
        if (CheckPublicKey(point) is { } publicProblem) return (null, $"VapidPublicKey {publicProblem}");
        var scalar = Decode(privateKey);
        if (scalar is null) return (null, "VapidPrivateKey is missing or not base64url");
        if (scalar.Length != PrivateKeyLength) return (null, $"VapidPrivateKey must be a {PrivateKeyLength}-byte P-256 private key, found {scalar.Length} bytes");
        ECDsa? key = null;
        try
        {
            key = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = scalar });
            var derived = key.ExportParameters(false).Q;
            if (!derived.X.AsSpan().SequenceEqual(point.AsSpan(1, 32)) || !derived.Y.AsSpan().SequenceEqual(point.AsSpan(33, 32)))
            {
                key.Dispose();
                return (null, "VapidPrivateKey does not belong to VapidPublicKey; set both from the same generated key pair");
            }

            return (key, null);
        }
        catch (CryptographicException)
        {
            key?.Dispose();
            return (null, "VapidPrivateKey is not a valid P-256 private key");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(scalar);
        }
    }
}
