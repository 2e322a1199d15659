using System.Buffers;
using System.Text.Json;

namespace Conductor.Sdk.Events;

/// <summary>
/// A JSON writer and its buffer kept per thread, so that writing a body or an element on the Notify path allocates
/// only the result. A nested use on the same thread gets a writer of its own, and a buffer that grew past
/// <see cref="MaxRetainedBytes"/> (one very large event) is dropped instead of being kept by the thread.
/// </summary>
internal sealed class JsonScratch
{
    /// <summary>The largest buffer a thread keeps between uses.</summary>
    internal const int MaxRetainedBytes = 64 * 1024;

    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private bool _rented;

    private JsonScratch(JsonWriterOptions options) => Writer = new Utf8JsonWriter(_buffer, options);

    /// <summary>The writer, reset onto the empty buffer by <see cref="Rent"/>.</summary>
    public Utf8JsonWriter Writer { get; }

    /// <summary>What was written so far (the writer is flushed first); valid until <see cref="Return"/>.</summary>
    public ReadOnlySpan<byte> Written
    {
        get
        {
            Writer.Flush();
            return _buffer.WrittenSpan;
        }
    }

    /// <summary>The thread's scratch in <paramref name="slot"/> (a <c>[ThreadStatic]</c> field), created on first use.</summary>
    public static JsonScratch Rent(ref JsonScratch? slot, JsonWriterOptions options)
    {
        var scratch = slot ??= new JsonScratch(options);
        if (scratch._rented) scratch = new JsonScratch(options);
        scratch._rented = true;
        scratch._buffer.ResetWrittenCount();
        scratch.Writer.Reset(scratch._buffer);
        return scratch;
    }

    /// <summary>Gives the scratch back to <paramref name="slot"/>, unless its buffer grew too large to keep.</summary>
    public void Return(ref JsonScratch? slot)
    {
        _rented = false;
        if (ReferenceEquals(slot, this) && _buffer.Capacity > MaxRetainedBytes) slot = null;
    }
}
