using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Conductor.Sdk.Events;

/// <summary>
/// Writes the wire body <c>{"event":"…","timestamp":"2024-01-15T10:30:15.000Z","data":{…}}</c>.
/// The bytes are produced once per delivery and signed as they are sent; nothing uses reflection.
/// </summary>
public static class EventPayload
{
    // Receivers parse JSON, not HTML: escape like JSON.stringify (quotes, backslash, control characters), as the original Conductor does.
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The UTC timestamp format of the body: milliseconds and a Z.</summary>
    public static string FormatTimestamp(DateTimeOffset timestamp) =>
        timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Serializes the event envelope to UTF-8 JSON.</summary>
    public static byte[] Serialize(ConductorEvent @event, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(@event);
        if (indented)
        {
            var pretty = new ArrayBufferWriter<byte>(512);
            using (var writer = new Utf8JsonWriter(pretty, WriterOptions with { Indented = true })) WriteEnvelope(writer, @event);
            return pretty.WrittenSpan.ToArray();
        }

        // One writer and buffer per thread: serializing allocates only the returned body.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(512);
        buffer.ResetWrittenCount();
        var cached = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        cached.Reset(buffer);
        WriteEnvelope(cached, @event);
        cached.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    private static void WriteEnvelope(Utf8JsonWriter writer, ConductorEvent @event)
    {
        writer.WriteStartObject();
        writer.WriteString("event", @event.Name);
        Span<char> stamp = stackalloc char[24];
        FormatTimestamp(@event.Timestamp, stamp);
        writer.WriteString("timestamp", stamp);
        writer.WritePropertyName("data");
        WriteData(writer, @event);
        writer.WriteEndObject();
    }

    internal static void FormatTimestamp(DateTimeOffset timestamp, Span<char> destination) =>
        timestamp.UtcDateTime.TryFormat(destination, out _, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Writes only the <c>data</c> object, in the field order of DESIGN.md's table.</summary>
    public static void WriteData(Utf8JsonWriter writer, ConductorEvent @event)
    {
        writer.WriteStartObject();
        writer.WriteString("ensemble", @event.Ensemble);
        switch (@event)
        {
            case ExecutionStarted e:
                writer.WriteString("id", e.Id);
                WriteJson(writer, "input", e.Input);
                break;
            case ExecutionCompleted e:
                writer.WriteString("id", e.Id);
                writer.WriteString("status", e.Status);
                WriteJson(writer, "output", e.Output);
                writer.WriteNumber("duration", e.Duration);
                break;
            case ExecutionFailed e:
                writer.WriteString("id", e.Id);
                writer.WriteString("status", e.Status);
                writer.WritePropertyName("error");
                JsonSerializer.Serialize(writer, e.Error, ConductorJsonContext.Default.ErrorInfo);
                writer.WriteNumber("duration", e.Duration);
                break;
            case ExecutionTimedOut e:
                writer.WriteString("id", e.Id);
                writer.WriteNumber("duration", e.Duration);
                writer.WriteNumber("timeout", e.Timeout);
                break;
            case AgentCompleted e:
                writer.WriteString("executionId", e.ExecutionId);
                writer.WriteString("agent", e.Agent);
                WriteJson(writer, "output", e.Output);
                writer.WriteNumber("duration", e.Duration);
                break;
            case StateUpdated e:
                writer.WriteString("executionId", e.ExecutionId);
                WriteJson(writer, "state", e.State);
                break;
            default:
                throw new ArgumentException($"Unknown event type {@event.GetType().Name}.", nameof(@event));
        }

        writer.WriteEndObject();
    }

    private static void WriteJson(Utf8JsonWriter writer, string name, JsonElement? value)
    {
        writer.WritePropertyName(name);
        if (value is { ValueKind: not JsonValueKind.Undefined } element) element.WriteTo(writer);
        else writer.WriteNullValue();
    }
}
