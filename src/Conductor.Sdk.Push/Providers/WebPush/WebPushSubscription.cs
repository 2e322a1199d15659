using System.Text.Json;

namespace Conductor.Sdk.Push;

/// <summary>
/// A browser's push subscription as <c>PushSubscription.toJSON()</c> gives it:
/// <c>{"endpoint":"https://…","keys":{"p256dh":"…","auth":"…"}}</c>. The endpoint is a capability URL and the keys
/// encrypt the user's messages, so problems are described without echoing any of them.
/// </summary>
internal sealed record WebPushSubscription(Uri Endpoint, string P256dh, string Auth)
{
    /// <summary>The push resource's origin (scheme, host and any non-default port): the VAPID <c>aud</c> claim.</summary>
    public string Origin => Endpoint.IsDefaultPort
        ? $"{Endpoint.Scheme}://{Endpoint.IdnHost}"
        : $"{Endpoint.Scheme}://{Endpoint.IdnHost}:{Endpoint.Port}";

    /// <summary>Parses and checks the rendered subscription; the problem names the part that is wrong.</summary>
    public static (WebPushSubscription? Subscription, string? Problem) Parse(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            return (null, $"the rendered value is not JSON (error at byte {ex.BytePositionInLine ?? 0} of line {(ex.LineNumber ?? 0) + 1})");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (null, $"the rendered value is a JSON {Kind(root)}, not the subscription object");
            if (!root.TryGetProperty("endpoint", out var endpointElement) || endpointElement.ValueKind != JsonValueKind.String)
            {
                return (null, "'endpoint' is missing or not a string");
            }

            if (!Uri.TryCreate(endpointElement.GetString(), UriKind.Absolute, out var endpoint)
                || !(endpoint.Scheme == Uri.UriSchemeHttps || (endpoint.Scheme == Uri.UriSchemeHttp && endpoint.IsLoopback)))
            {
                return (null, "'endpoint' must be an absolute https: URL (plain http only for a loopback test service)");
            }

            if (!root.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Object)
            {
                return (null, "'keys' is missing or not an object");
            }

            var p256dh = keys.TryGetProperty("p256dh", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            if (WebPushKeys.CheckPublicKey(WebPushKeys.Decode(p256dh)) is { } keyProblem) return (null, $"'keys.p256dh' {keyProblem}");
            var auth = keys.TryGetProperty("auth", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            var secret = WebPushKeys.Decode(auth);
            if (secret is null) return (null, "'keys.auth' is missing or not base64url");
            if (secret.Length != WebPushKeys.AuthSecretLength)
            {
                return (null, $"'keys.auth' must be a {WebPushKeys.AuthSecretLength}-byte secret, found {secret.Length} bytes");
            }

            // The library decodes base64url only: hand it the canonical form whatever the app stored.
            return (new WebPushSubscription(endpoint, WebPushKeys.Encode(WebPushKeys.Decode(p256dh)!), WebPushKeys.Encode(secret)), null);
        }
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };
}
