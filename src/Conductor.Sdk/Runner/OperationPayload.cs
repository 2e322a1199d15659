using System.Text.Json;
using Conductor.Sdk.Ensembles;

namespace Conductor.Sdk.Runner;

/// <summary>
/// The stored body of an operation step's delivery: <c>{"ensemble","executionId","step","values":{…}}</c> with the
/// config values rendered when the step ran. Values that only read configuration are left out and resolved at send time.
/// </summary>
public static class OperationPayload
{
    /// <summary>Serializes the rendered values of one step run.</summary>
    public static byte[] Serialize(string ensemble, string executionId, string step, IEnumerable<KeyValuePair<string, string>> values)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("ensemble", ensemble);
            writer.WriteString("executionId", executionId);
            writer.WriteString("step", step);
            writer.WriteStartObject("values");
            foreach (var (key, value) in values) writer.WriteString(key, value);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Every config value of a stored operation delivery: the stored ones, plus the configuration-only ones rendered now.
    /// </summary>
    /// <exception cref="JsonException">The stored body is not an operation payload.</exception>
    public static IReadOnlyDictionary<string, string> Resolve(OperationNotificationDefinition definition, ReadOnlyMemory<byte> payload, EnsembleEnvironment environment)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var document = JsonDocument.Parse(payload))
        {
            if (!document.RootElement.TryGetProperty("values", out var stored) || stored.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException($"{definition.Describe()}: the stored delivery has no 'values' object");
            }

            foreach (var property in stored.EnumerateObject()) values[property.Name] = property.Value.GetString() ?? string.Empty;
        }

        var context = new TemplateContext(definition.Ensemble, null, environment);
        foreach (var (key, template) in definition.Config)
        {
            if (definition.ResolvedAtSend.Contains(key)) values[key] = template.Render(context);
        }

        return values;
    }
}
