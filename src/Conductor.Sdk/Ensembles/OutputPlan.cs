using System.Buffers;
using System.Text.Json;

namespace Conductor.Sdk.Ensembles;

/// <summary>How an <c>outputs:</c> value becomes a property of the typed <c>Output</c>.</summary>
public enum OutputKind
{
    /// <summary>A binding into declared data: the JSON value, converted to the declared type.</summary>
    Declared,

    /// <summary><c>${step.executed}</c> or a comparison: a bool.</summary>
    Bool,

    /// <summary>A template with text: a string.</summary>
    Text,

    /// <summary>A binding into undeclared data: the JSON value as it is (or null).</summary>
    Untyped,
}

/// <summary>One <c>outputs:</c> entry as the generator compiled it: the key, how it is typed, and its value.</summary>
/// <param name="Key">The key as written in the YAML (the JSON name in <c>data.output</c>).</param>
/// <param name="Kind">How the value is typed.</param>
/// <param name="Value">The compiled binding or template.</param>
public sealed record OutputBinding(string Key, OutputKind Kind, TemplateNode Value);

/// <summary>
/// Builds a run's typed <c>Output</c> from the compiled <c>outputs:</c> table once every step has run: the values are
/// written as the JSON object sent in <c>data.output</c>, then read by the generated reader, which checks each typed
/// field and names it when a value does not match.
/// </summary>
/// <typeparam name="TOutput">The generated <c>Output</c> type.</typeparam>
public sealed class OutputPlan<TOutput>
    where TOutput : class, IEnsembleData<TOutput>
{
    private readonly OutputBinding[] _bindings;
    private readonly DataLocation _at;

    /// <summary>Creates the plan of ensemble <paramref name="ensemble"/>.</summary>
    public OutputPlan(string ensemble, params OutputBinding[] bindings)
    {
        ArgumentNullException.ThrowIfNull(bindings);
        _bindings = bindings;
        _at = new DataLocation(ensemble, "output");
    }

    /// <summary>Builds the output for the run that <paramref name="context"/> reads.</summary>
    public TOutput Create(in TemplateContext context)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var binding in _bindings)
            {
                var value = binding.Value.Evaluate(context);
                switch (binding.Kind)
                {
                    case OutputKind.Bool:
                        writer.WriteBoolean(binding.Key, TemplateValues.Truthy(value));
                        break;
                    case OutputKind.Text:
                        writer.WriteString(binding.Key, value.ToString());
                        break;
                    default:
                        if (value.AsJson() is { } json)
                        {
                            writer.WritePropertyName(binding.Key);
                            json.WriteTo(writer);
                        }
                        else if (binding.Kind == OutputKind.Untyped && value.ToString() is { Length: > 0 } text)
                        {
                            writer.WriteString(binding.Key, text);
                        }

                        break;
                }
            }

            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return TOutput.ReadJson(document.RootElement, _at);
    }

    /// <summary>The output as the JSON object sent in <c>data.output</c>.</summary>
    public JsonElement ToJson(TOutput output) => EnsembleJson.ToElement(output, _at);
}
