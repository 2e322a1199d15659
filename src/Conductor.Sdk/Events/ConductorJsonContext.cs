using System.Text.Json.Serialization;

namespace Conductor.Sdk.Events;

/// <summary>
/// Source-generated System.Text.Json metadata for the SDK's own types, so serialization needs no
/// reflection (trimming- and AOT-safe). The envelope itself is written with <see cref="System.Text.Json.Utf8JsonWriter"/>
/// in a fixed field order, because the signed bytes must not depend on serializer settings.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ErrorInfo))]
public sealed partial class ConductorJsonContext : JsonSerializerContext;
