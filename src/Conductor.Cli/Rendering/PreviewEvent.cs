using System.Text;
using System.Text.Json;
using Conductor.Sdk.Events;
using Conductor.Sdk.Model;

namespace Conductor.Cli.Rendering;

/// <summary>
/// Builds the event a preview renders: the <c>--data</c> JSON object is the event's <c>data</c>, and fields the
/// event needs but the user did not give get placeholder values, which the preview lists.
/// </summary>
internal static class PreviewEvent
{
    /// <summary>The event, and the names of the data fields that were filled in.</summary>
    public static (ConductorEvent Event, IReadOnlyList<string> Defaulted) Create(EnsembleDefinition ensemble, string eventName, string? dataJson, DateTimeOffset timestamp)
    {
        var info = EventCatalog.Find(eventName) ?? throw new CliUsageException(
            $"--event '{eventName}' is not a Conductor event; use one of: {string.Join(", ", EventCatalog.KnownNames)}.");
        JsonElement data;
        if (string.IsNullOrWhiteSpace(dataJson))
        {
            using var empty = JsonDocument.Parse("{}");
            data = empty.RootElement.Clone();
        }
        else
        {
            try
            {
                using var document = JsonDocument.Parse(dataJson);
                data = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new CliUsageException($"--data is not valid JSON ({ex.Message}); pass the event's data object, for example --data '{{\"id\":\"exec-1\",\"output\":{{\"total\":42}}}}'.");
            }

            if (data.ValueKind != JsonValueKind.Object)
            {
                throw new CliUsageException($"--data must be a JSON object (the event's data), not {data.ValueKind.ToString().ToLowerInvariant()}.");
            }
        }

        var defaults = Defaults(ensemble, eventName);
        var defaulted = new List<string>();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("event", eventName);
            writer.WriteString("timestamp", EventPayload.FormatTimestamp(timestamp));
            writer.WritePropertyName("data");
            writer.WriteStartObject();
            // The runtime's events always carry their own ensemble's name.
            writer.WriteString("ensemble", ensemble.Name.Value);
            foreach (var field in info.DataFields)
            {
                if (field == "ensemble") continue;
                if (data.TryGetProperty(field, out var given))
                {
                    writer.WritePropertyName(field);
                    given.WriteTo(writer);
                }
                else if (defaults.TryGetValue(field, out var fallback))
                {
                    // The status is fixed by the event ("completed"/"failed"); the others are the user's to give.
                    if (field != "status") defaulted.Add(field);
                    writer.WritePropertyName(field);
                    fallback.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        var unknown = data.EnumerateObject().Select(p => p.Name).Where(n => n != "ensemble" && !info.DataFields.Contains(n)).ToList();
        if (unknown.Count > 0)
        {
            throw new CliUsageException(
                $"--data has field(s) {string.Join(", ", unknown.Select(u => "'" + u + "'"))} that {eventName} does not carry; its data fields are: {string.Join(", ", info.DataFields)}.");
        }

        try
        {
            return (EventPayload.Deserialize(buffer.WrittenMemory), defaulted);
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or JsonException)
        {
            throw new CliUsageException($"--data does not fit {eventName}: {ex.Message}. Its data fields are: {string.Join(", ", info.DataFields)}.");
        }
    }

    private static Dictionary<string, JsonElement> Defaults(EnsembleDefinition ensemble, string eventName)
    {
        var firstAgent = ensemble.Flow.Select(s => s.Agent?.Value).FirstOrDefault(a => a is not null) ?? "agent";
        var json = new StringBuilder("{");
        json.Append("\"id\":\"exec-preview\",\"executionId\":\"exec-preview\",\"duration\":0,\"input\":null,\"output\":null,");
        json.Append("\"status\":").Append(eventName == EventCatalog.ExecutionFailed ? "\"failed\"" : "\"completed\"").Append(',');
        json.Append("\"error\":{\"message\":\"preview error\",\"type\":\"System.Exception\"},");
        json.Append("\"timeout\":").Append(ensemble.Timeout?.Value ?? 0).Append(',');
        json.Append("\"agent\":").Append(JsonSerializer.Serialize(firstAgent, Conductor.Cli.CliJsonContext.Default.String)).Append(',');
        // Operational events (endpoint.*, delivery.dead-lettered).
        // state: the run's state object of state.updated, or an endpoint's state.
        json.Append("\"endpoint\":\"https://hooks.example.com\",\"state\":").Append(eventName switch
        {
            EventCatalog.EndpointDisabled => "\"disabled\"",
            EventCatalog.EndpointFailing => "\"failing\"",
            EventCatalog.EndpointEnabled => "\"healthy\"",
            _ => "null",
        });
        json.Append(",\"since\":\"2024-01-15T10:30:00.000Z\",\"reason\":\"preview reason\",\"failedAttempts\":12,\"lastError\":\"HTTP 503\",");
        json.Append("\"deliveryId\":\"dlv_preview\",\"sourceEnsemble\":").Append(JsonSerializer.Serialize(ensemble.Name.Value, Conductor.Cli.CliJsonContext.Default.String));
        json.Append(",\"event\":\"execution.completed\",\"notification\":\"orders#0\",\"channel\":\"webhook\",\"attempts\":6,\"statusCode\":503");
        json.Append('}');
        using var document = JsonDocument.Parse(json.ToString());
        return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
    }
}
