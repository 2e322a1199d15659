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
        string.Create(24, timestamp, static (chars, value) => FormatTimestamp(value, chars));

    /// <summary>
    /// The stored form for channels that render templates (email, SMS, push): the envelope plus, when the event comes
    /// from a run, a top-level <c>runInput</c> with the run's input. Webhooks always send <see cref="Serialize"/>'s bytes.
    /// </summary>
    public static byte[] SerializeForRendering(ConductorEvent @event)
    {
        ArgumentNullException.ThrowIfNull(@event);
        if (@event.RunInput is not { } input) return Serialize(@event);
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions)) WriteEnvelope(writer, @event, input);
        return buffer.WrittenSpan.ToArray();
    }

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
        var scratch = JsonScratch.Rent(ref t_scratch, WriterOptions);
        try
        {
            WriteEnvelope(scratch.Writer, @event);
            return scratch.Written.ToArray();
        }
        finally
        {
            scratch.Return(ref t_scratch);
        }
    }

    [ThreadStatic]
    private static JsonScratch? t_scratch;

    private static void WriteEnvelope(Utf8JsonWriter writer, ConductorEvent @event, JsonElement? runInput = null)
    {
        writer.WriteStartObject();
        writer.WriteString("event", @event.Name);
        Span<char> stamp = stackalloc char[24];
        FormatTimestamp(@event.Timestamp, stamp);
        writer.WriteString("timestamp", stamp);
        writer.WritePropertyName("data");
        WriteData(writer, @event);
        if (runInput is { } input)
        {
            writer.WritePropertyName("runInput");
            input.WriteTo(writer);
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes <c>yyyy-MM-ddTHH:mm:ss.fffZ</c> (24 characters) digit by digit: it is formatted for every event.</summary>
    internal static void FormatTimestamp(DateTimeOffset timestamp, Span<char> destination)
    {
        var utc = timestamp.UtcDateTime;
        Digits(destination, 0, utc.Year, 4);
        destination[4] = '-';
        Digits(destination, 5, utc.Month, 2);
        destination[7] = '-';
        Digits(destination, 8, utc.Day, 2);
        destination[10] = 'T';
        Digits(destination, 11, utc.Hour, 2);
        destination[13] = ':';
        Digits(destination, 14, utc.Minute, 2);
        destination[16] = ':';
        Digits(destination, 17, utc.Second, 2);
        destination[19] = '.';
        Digits(destination, 20, utc.Millisecond, 3);
        destination[23] = 'Z';

        static void Digits(Span<char> into, int at, int value, int count)
        {
            for (var i = at + count - 1; i >= at; i--, value /= 10) into[i] = (char)('0' + value % 10);
        }
    }

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
            case OperationalNotificationEvent e:
                foreach (var property in e.Data.EnumerateObject())
                {
                    if (property.NameEquals("ensemble")) continue;
                    property.WriteTo(writer);
                }

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

    /// <summary>
    /// Reads a stored body back into its event (channels that render templates need the event, not the bytes).
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a Conductor event body; the message says what is missing.</exception>
    public static ConductorEvent Deserialize(ReadOnlyMemory<byte> body)
    {
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        string Text(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new FormatException($"the event body has no '{name}' text");
        long Number(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.TryGetInt64(out var number) ? number : throw new FormatException($"the event body has no '{name}' number");
        JsonElement? Json(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.Clone() : null;
        var name = Text(root, "event");
        var timestamp = DateTimeOffset.Parse(Text(root, "timestamp"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        var data = root.TryGetProperty("data", out var d) ? d : throw new FormatException("the event body has no 'data'");
        var ensemble = Text(data, "ensemble");
        ConductorEvent parsed = name switch
        {
            EventNames.ExecutionStarted => new ExecutionStarted(timestamp, ensemble, Text(data, "id"), Json(data, "input")),
            EventNames.ExecutionCompleted => new ExecutionCompleted(timestamp, ensemble, Text(data, "id"), Json(data, "output"), Number(data, "duration")),
            EventNames.ExecutionFailed => new ExecutionFailed(timestamp, ensemble, Text(data, "id"),
                data.TryGetProperty("error", out var error)
                    ? new ErrorInfo(Text(error, "message"), Text(error, "type"), error.TryGetProperty("stack", out var stack) ? stack.GetString() : null)
                    : throw new FormatException("the event body has no 'error'"),
                Number(data, "duration")),
            EventNames.ExecutionTimeout => new ExecutionTimedOut(timestamp, ensemble, Text(data, "id"), Number(data, "duration"), Number(data, "timeout")),
            EventNames.AgentCompleted => new AgentCompleted(timestamp, ensemble, Text(data, "executionId"), Text(data, "agent"), Json(data, "output"), Number(data, "duration")),
            EventNames.StateUpdated => new StateUpdated(timestamp, ensemble, Text(data, "executionId"), Json(data, "state")),
            _ when OperationalEventNames.Contains(name) => new OperationalNotificationEvent(timestamp, name, ensemble, data.Clone()),
            _ => throw new FormatException($"unknown event '{name}'"),
        };
        return Json(root, "runInput") is { } runInput ? parsed with { RunInput = runInput } : parsed;
    }
}
