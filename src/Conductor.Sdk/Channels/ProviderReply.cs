namespace Conductor.Sdk.Channels;

/// <summary>Reads a provider's reply without trusting its size: a misbehaving endpoint cannot make an attempt buffer megabytes.</summary>
internal static class ProviderReply
{
    /// <summary>Replies the providers send are a few kilobytes; anything past this is not read.</summary>
    public const int DefaultLimit = 64 * 1024;

    /// <summary>The first <paramref name="limit"/> bytes of the body.</summary>
    public static async Task<byte[]> ReadBytesAsync(HttpContent content, CancellationToken cancellationToken, int limit = DefaultLimit)
    {
        using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[Math.Min(limit, (int?)content.Headers.ContentLength is int length and >= 0 ? length : limit)];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0) total += read;
        return total == buffer.Length ? buffer : buffer[..total];
    }

    /// <summary>The first <paramref name="limit"/> bytes of the body as UTF-8 text.</summary>
    public static async Task<string> ReadTextAsync(HttpContent content, CancellationToken cancellationToken, int limit = DefaultLimit) =>
        System.Text.Encoding.UTF8.GetString(await ReadBytesAsync(content, cancellationToken, limit).ConfigureAwait(false));
}
