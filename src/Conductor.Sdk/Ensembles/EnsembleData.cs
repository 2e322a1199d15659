using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Conductor.Sdk.Ensembles;

/// <summary>
/// Where a value sits in an ensemble's data, for error messages: the ensemble, the part (<c>input</c>,
/// <c>step 'ship-order' output</c>, <c>output</c>) and the field path inside it (<c>items[2].sku</c>).
/// Building one allocates nothing until a nested field is entered.
/// </summary>
public readonly struct DataLocation
{
    /// <summary>The root of a part of an ensemble's data.</summary>
    public DataLocation(string ensemble, string part)
        : this(ensemble, part, null)
    {
    }

    private DataLocation(string ensemble, string part, string? path)
    {
        Ensemble = ensemble;
        Part = part;
        Path = path;
    }

    /// <summary>The ensemble's name.</summary>
    public string Ensemble { get; }

    /// <summary>The part of its data: <c>input</c>, <c>step 'x' output</c>, <c>output</c>.</summary>
    public string Part { get; }

    /// <summary>The field path inside the part, or null at its root.</summary>
    public string? Path { get; }

    /// <summary>The location of a field of the object here.</summary>
    public DataLocation Field(string name) => new(Ensemble, Part, Path is null ? name : Path + "." + name);

    /// <summary>The location of an item of the list here.</summary>
    public DataLocation Item(int index) => new(Ensemble, Part, (Path ?? string.Empty) + "[" + index.ToString(CultureInfo.InvariantCulture) + "]");

    /// <inheritdoc />
    public override string ToString() => $"ensemble '{Ensemble}', {Part}" + (Path is null ? string.Empty : $", field '{Path}'");
}

/// <summary>
/// Data that does not match what the ensemble's YAML declares: a required field that is null or missing, a value
/// of the wrong kind, a string outside a declared set. The message names the ensemble, the part (input, a step's
/// output, the output) and the field.
/// </summary>
public sealed class EnsembleDataException : Exception
{
    /// <summary>Creates the exception for a value at <paramref name="location"/>.</summary>
    public EnsembleDataException(DataLocation location, string problem)
        : base($"{location}: {problem}")
    {
        Ensemble = location.Ensemble;
        Part = location.Part;
        Field = location.Path;
    }

    /// <summary>The ensemble whose data is wrong.</summary>
    public string Ensemble { get; }

    /// <summary>Which of its data: <c>input</c>, <c>step 'x' output</c>, <c>output</c>.</summary>
    public string Part { get; }

    /// <summary>The field path, or null when the whole value is wrong.</summary>
    public string? Field { get; }
}

/// <summary>
/// A record the generator emits from a declared shape (<c>input:</c>, a step's <c>output:</c>, <c>outputs:</c>):
/// it reads and writes its JSON form without reflection, checking every declared rule on the way.
/// </summary>
/// <typeparam name="TSelf">The record itself.</typeparam>
public interface IEnsembleData<TSelf>
    where TSelf : class, IEnsembleData<TSelf>
{
    /// <summary>Reads the record from JSON; throws <see cref="EnsembleDataException"/> naming the field when it does not match.</summary>
    static abstract TSelf ReadJson(JsonElement element, DataLocation at);

    /// <summary>Writes the record as JSON with the YAML key names; throws <see cref="EnsembleDataException"/> for a required field that is null.</summary>
    void WriteJson(Utf8JsonWriter writer, DataLocation at);
}

/// <summary>Reads one JSON value as <typeparamref name="T"/> (generated code passes these for list items).</summary>
public delegate T JsonValueReader<out T>(JsonElement? value, DataLocation at);

/// <summary>Writes one value of <typeparamref name="T"/> as JSON (generated code passes these for list items).</summary>
public delegate void JsonValueWriter<in T>(Utf8JsonWriter writer, T value, DataLocation at);

/// <summary>
/// The helpers generated records call to read and write their JSON: one method per declared type, each naming the
/// ensemble, part and field when a value does not match.
/// </summary>
public static class EnsembleJson
{
    /// <summary>The member <paramref name="name"/> of an object, or null when it is absent or JSON null.</summary>
    public static JsonElement? Member(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind is not JsonValueKind.Null ? value : null;

    /// <summary>Checks that the value is a JSON object (the form of every record).</summary>
    public static JsonElement Object(JsonElement value, DataLocation at) =>
        value.ValueKind == JsonValueKind.Object ? value : throw Wrong(at, "an object", value);

    /// <summary>A required string.</summary>
    public static string String(JsonElement? value, DataLocation at) => StringOrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional string.</summary>
    public static string? StringOrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(at, "a string", v);

    /// <summary>A required <c>int</c>.</summary>
    public static int Int32(JsonElement? value, DataLocation at) => Int32OrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional <c>int</c>.</summary>
    public static int? Int32OrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Wrong(at, "a whole number (int)", v);

    /// <summary>A required <c>long</c>.</summary>
    public static long Int64(JsonElement? value, DataLocation at) => Int64OrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional <c>long</c>.</summary>
    public static long? Int64OrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var i) ? i : throw Wrong(at, "a whole number (long)", v);

    /// <summary>A required <c>number</c>.</summary>
    public static double Double(JsonElement? value, DataLocation at) => DoubleOrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional <c>number</c>.</summary>
    public static double? DoubleOrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) ? d : throw Wrong(at, "a number", v);

    /// <summary>A required <c>decimal</c>.</summary>
    public static decimal Decimal(JsonElement? value, DataLocation at) => DecimalOrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional <c>decimal</c>.</summary>
    public static decimal? DecimalOrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetDecimal(out var d) ? d : throw Wrong(at, "a decimal number", v);

    /// <summary>A required <c>bool</c>.</summary>
    public static bool Boolean(JsonElement? value, DataLocation at) => BooleanOrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional <c>bool</c>.</summary>
    public static bool? BooleanOrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Wrong(at, "true or false", v),
        };

    /// <summary>A required <c>datetime</c> (ISO 8601).</summary>
    public static DateTimeOffset DateTime(JsonElement? value, DataLocation at) => DateTimeOrNull(value, at) ?? throw Missing(at);

    /// <summary>An optional <c>datetime</c> (ISO 8601).</summary>
    public static DateTimeOffset? DateTimeOrNull(JsonElement? value, DataLocation at) => value is not { } v ? null
        : v.ValueKind == JsonValueKind.String && v.TryGetDateTimeOffset(out var d) ? d : throw Wrong(at, "an ISO 8601 datetime such as \"2024-01-15T10:30:00Z\"", v);

    /// <summary>A required <c>json</c> value (anything but null).</summary>
    public static JsonElement Json(JsonElement? value, DataLocation at) => value is { } v ? v.Clone() : throw Missing(at);

    /// <summary>An optional <c>json</c> value.</summary>
    public static JsonElement? JsonOrNull(JsonElement? value, DataLocation at) => value?.Clone();

    /// <summary>A required value of a closed set of strings; <paramref name="values"/> lists the YAML values in enum order.</summary>
    public static T Enum<T>(JsonElement? value, DataLocation at, string[] values)
        where T : struct, System.Enum => EnumOrNull<T>(value, at, values) ?? throw Missing(at);

    /// <summary>An optional value of a closed set of strings.</summary>
    public static T? EnumOrNull<T>(JsonElement? value, DataLocation at, string[] values)
        where T : struct, System.Enum
    {
        if (value is not { } v) return null;
        if (v.ValueKind == JsonValueKind.String)
        {
            var text = v.GetString();
            var index = Array.IndexOf(values, text);
            if (index >= 0) return Unsafe.As<int, T>(ref index);
        }

        throw Wrong(at, "one of [" + string.Join(", ", values) + "]", v);
    }

    /// <summary>A required nested record.</summary>
    public static T Record<T>(JsonElement? value, DataLocation at)
        where T : class, IEnsembleData<T> => value is { } v ? T.ReadJson(Object(v, at), at) : throw Missing(at);

    /// <summary>An optional nested record.</summary>
    public static T? RecordOrNull<T>(JsonElement? value, DataLocation at)
        where T : class, IEnsembleData<T> => value is { } v ? T.ReadJson(Object(v, at), at) : null;

    /// <summary>A required list.</summary>
    public static IReadOnlyList<T> List<T>(JsonElement? value, DataLocation at, JsonValueReader<T> item) => ListOrNull(value, at, item) ?? throw Missing(at);

    /// <summary>An optional list.</summary>
    public static IReadOnlyList<T>? ListOrNull<T>(JsonElement? value, DataLocation at, JsonValueReader<T> item)
    {
        if (value is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Array) throw Wrong(at, "a list", v);
        var result = new T[v.GetArrayLength()];
        var i = 0;
        foreach (var element in v.EnumerateArray())
        {
            result[i] = item(element.ValueKind == JsonValueKind.Null ? null : element, at.Item(i));
            i++;
        }

        return result;
    }

    /// <summary>Writes a required string field.</summary>
    public static void Write(Utf8JsonWriter writer, string name, string? value, DataLocation at)
    {
        writer.WritePropertyName(name);
        Value(writer, value ?? throw Null(at.Field(name)), at);
    }

    /// <summary>Writes an optional string field (null when absent).</summary>
    public static void WriteOptional(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null) writer.WriteNull(name);
        else writer.WriteString(name, value);
    }

    /// <summary>Writes an optional <c>int</c> field (null when absent).</summary>
    public static void WriteOptional(Utf8JsonWriter writer, string name, int? value)
    {
        if (value is { } v) writer.WriteNumber(name, v);
        else writer.WriteNull(name);
    }

    /// <summary>Writes an optional <c>long</c> field (null when absent).</summary>
    public static void WriteOptional(Utf8JsonWriter writer, string name, long? value)
    {
        if (value is { } v) writer.WriteNumber(name, v);
        else writer.WriteNull(name);
    }

    /// <summary>Writes an optional <c>decimal</c> field (null when absent).</summary>
    public static void WriteOptional(Utf8JsonWriter writer, string name, decimal? value)
    {
        if (value is { } v) writer.WriteNumber(name, v);
        else writer.WriteNull(name);
    }

    /// <summary>Writes an optional <c>bool</c> field (null when absent).</summary>
    public static void WriteOptional(Utf8JsonWriter writer, string name, bool? value)
    {
        if (value is { } v) writer.WriteBoolean(name, v);
        else writer.WriteNull(name);
    }

    /// <summary>Writes an optional <c>datetime</c> field (null when absent).</summary>
    public static void WriteOptional(Utf8JsonWriter writer, string name, DateTimeOffset? value)
    {
        if (value is { } v) writer.WriteString(name, v);
        else writer.WriteNull(name);
    }

    /// <summary>Writes a <c>number</c> field (finite only; null when absent and optional).</summary>
    public static void WriteNumber(Utf8JsonWriter writer, string name, double? value, DataLocation at)
    {
        writer.WritePropertyName(name);
        if (value is { } v) Value(writer, v, at.Field(name));
        else writer.WriteNullValue();
    }

    /// <summary>Writes a <c>json</c> field (null when absent and optional).</summary>
    public static void WriteJson(Utf8JsonWriter writer, string name, JsonElement? value, DataLocation at)
    {
        writer.WritePropertyName(name);
        if (value is { } v) Value(writer, v, at.Field(name));
        else writer.WriteNullValue();
    }

    /// <summary>Writes a nested record field; a null <paramref name="value"/> is an error unless <paramref name="optional"/>.</summary>
    public static void WriteRecord<T>(Utf8JsonWriter writer, string name, T? value, DataLocation at, bool optional)
        where T : class, IEnsembleData<T>
    {
        writer.WritePropertyName(name);
        if (value is not null) value.WriteJson(writer, at.Field(name));
        else if (optional) writer.WriteNullValue();
        else throw Null(at.Field(name));
    }

    /// <summary>Writes a list field; a null <paramref name="value"/> is an error unless <paramref name="optional"/>.</summary>
    public static void WriteList<T>(Utf8JsonWriter writer, string name, IReadOnlyList<T>? value, JsonValueWriter<T> item, DataLocation at, bool optional)
    {
        writer.WritePropertyName(name);
        if (value is null)
        {
            if (optional) writer.WriteNullValue();
            else throw Null(at.Field(name));
            return;
        }

        var list = at.Field(name);
        writer.WriteStartArray();
        for (var i = 0; i < value.Count; i++) item(writer, value[i], list.Item(i));
        writer.WriteEndArray();
    }

    /// <summary>Writes a value of a closed set of strings.</summary>
    public static void WriteEnum<T>(Utf8JsonWriter writer, T value, string[] values, DataLocation at)
        where T : struct, System.Enum
    {
        var index = Unsafe.As<T, int>(ref value);
        if ((uint)index >= (uint)values.Length) throw new EnsembleDataException(at, $"{value} is not one of the declared values [{string.Join(", ", values)}]");
        writer.WriteStringValue(values[index]);
    }

    /// <summary>Writes a field holding a value of a closed set of strings; null is an error unless <paramref name="optional"/>.</summary>
    public static void WriteEnum<T>(Utf8JsonWriter writer, string name, T? value, string[] values, DataLocation at, bool optional)
        where T : struct, System.Enum
    {
        writer.WritePropertyName(name);
        if (value is { } v) WriteEnum(writer, v, values, at.Field(name));
        else if (optional) writer.WriteNullValue();
        else throw Null(at.Field(name));
    }

    /// <summary>A list as a JSON value (lists of lists).</summary>
    public static void ListValue<T>(Utf8JsonWriter writer, IReadOnlyList<T> value, JsonValueWriter<T> item, DataLocation at)
    {
        if (value is null) throw Null(at);
        writer.WriteStartArray();
        for (var i = 0; i < value.Count; i++) item(writer, value[i], at.Item(i));
        writer.WriteEndArray();
    }

    /// <summary>A string as a JSON value (list items).</summary>
    public static void Value(Utf8JsonWriter writer, string value, DataLocation at) =>
        writer.WriteStringValue(value ?? throw Null(at));

    /// <summary>An <c>int</c> as a JSON value.</summary>
    public static void Value(Utf8JsonWriter writer, int value, DataLocation at) => writer.WriteNumberValue(value);

    /// <summary>A <c>long</c> as a JSON value.</summary>
    public static void Value(Utf8JsonWriter writer, long value, DataLocation at) => writer.WriteNumberValue(value);

    /// <summary>A <c>number</c> as a JSON value (NaN and infinities have no JSON form).</summary>
    public static void Value(Utf8JsonWriter writer, double value, DataLocation at)
    {
        if (!double.IsFinite(value)) throw new EnsembleDataException(at, $"{value.ToString(CultureInfo.InvariantCulture)} has no JSON form; use a finite number");
        writer.WriteNumberValue(value);
    }

    /// <summary>A <c>decimal</c> as a JSON value.</summary>
    public static void Value(Utf8JsonWriter writer, decimal value, DataLocation at) => writer.WriteNumberValue(value);

    /// <summary>A <c>bool</c> as a JSON value.</summary>
    public static void Value(Utf8JsonWriter writer, bool value, DataLocation at) => writer.WriteBooleanValue(value);

    /// <summary>A <c>datetime</c> as an ISO 8601 JSON string.</summary>
    public static void Value(Utf8JsonWriter writer, DateTimeOffset value, DataLocation at) => writer.WriteStringValue(value);

    /// <summary>A <c>json</c> value as written.</summary>
    public static void Value(Utf8JsonWriter writer, JsonElement value, DataLocation at)
    {
        if (value.ValueKind == JsonValueKind.Undefined) throw Null(at);
        value.WriteTo(writer);
    }

    /// <summary>A nested record as a JSON value (list items).</summary>
    public static void RecordValue<T>(Utf8JsonWriter writer, T value, DataLocation at)
        where T : class, IEnsembleData<T>
    {
        if (value is null) throw Null(at);
        value.WriteJson(writer, at);
    }

    /// <summary>A value of the inferred <c>Output</c> whose type is not declared (written as <see cref="JsonValues"/> does).</summary>
    public static void WriteUntyped(Utf8JsonWriter writer, string name, object? value)
    {
        writer.WritePropertyName(name);
        JsonValues.Write(writer, value);
    }

    /// <summary>The record as a JSON element (events carry their data as JSON).</summary>
    public static JsonElement ToElement<T>(T value, DataLocation at)
        where T : class, IEnsembleData<T>
    {
        if (value is null) throw new EnsembleDataException(at, "the value is null");
        // The thread's writer and buffer (this runs on every typed Notify): only the element's own copy is allocated.
        var scratch = Events.JsonScratch.Rent(ref t_scratch, default);
        try
        {
            value.WriteJson(scratch.Writer, at);
            return JsonElement.Parse(scratch.Written);
        }
        finally
        {
            scratch.Return(ref t_scratch);
        }
    }

    [ThreadStatic]
    private static Events.JsonScratch? t_scratch;

    /// <summary>Reads a record from a JSON element (a run's JSON input).</summary>
    public static T FromElement<T>(JsonElement element, DataLocation at)
        where T : class, IEnsembleData<T> => T.ReadJson(Object(element, at), at);

    private static EnsembleDataException Missing(DataLocation at) =>
        new(at, "the value is required but missing (or null); the YAML declares it without '?'");

    private static EnsembleDataException Null(DataLocation at) =>
        new(at, "the value is required but null; set it, or declare the field optional with '?' in the YAML");

    private static EnsembleDataException Wrong(DataLocation at, string expected, JsonElement actual) =>
        new(at, $"expected {expected}, got {Describe(actual)}");

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "the string \"" + Truncate(value.GetString() ?? string.Empty) + "\"",
        JsonValueKind.Number => "the number " + Truncate(value.GetRawText()),
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        _ => "null",
    };

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>The System.Text.Json converter of a generated record: its own reader and writer, no reflection.</summary>
public sealed class EnsembleDataConverter<T> : JsonConverter<T>
    where T : class, IEnsembleData<T>
{
    private readonly DataLocation _at;

    /// <summary>Creates the converter; <paramref name="at"/> names the data in error messages.</summary>
    public EnsembleDataConverter(DataLocation at) => _at = at;

    /// <inheritdoc />
    public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.ValueKind == JsonValueKind.Null ? null : EnsembleJson.FromElement<T>(document.RootElement, _at);
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => value.WriteJson(writer, _at);
}

/// <summary>
/// The base class of the types the generator emits for declared data (<c>Input</c>, <c>{Agent}Output</c>, <c>Output</c>
/// and nested objects): value equality, hashing and <see cref="ToString"/> over the JSON form, shared here instead of
/// being compiled again into every generated type.
/// </summary>
public abstract class EnsembleRecord : IEquatable<EnsembleRecord>
{
    /// <summary>Writes the value as JSON with the YAML key names; throws <see cref="EnsembleDataException"/> for a required field that is null.</summary>
    public abstract void WriteJson(Utf8JsonWriter writer, DataLocation at);

    /// <summary>Equal when both are the same generated type with the same JSON form.</summary>
    public bool Equals(EnsembleRecord? other)
    {
        if (ReferenceEquals(this, other)) return true;
        if (other is null || other.GetType() != GetType()) return false;
        return Utf8() is { } mine && other.Utf8() is { } theirs && mine.AsSpan().SequenceEqual(theirs);
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is EnsembleRecord other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        if (Utf8() is not { } bytes) return 0;
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    /// <summary>The type name and the JSON form, for logs and debuggers.</summary>
    public override string ToString() =>
        GetType().Name + " " + (Utf8() is { } bytes ? System.Text.Encoding.UTF8.GetString(bytes) : "{ a required field is null }");

    /// <summary>Value equality.</summary>
    public static bool operator ==(EnsembleRecord? left, EnsembleRecord? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(EnsembleRecord? left, EnsembleRecord? right) => !(left == right);

    private byte[]? Utf8()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        try
        {
            using var writer = new Utf8JsonWriter(buffer);
            WriteJson(writer, new DataLocation(GetType().Name, "value"));
        }
        catch (EnsembleDataException)
        {
            return null;
        }

        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>
/// System.Text.Json metadata for the generated data types, without reflection (trimming- and AOT-safe), shared by every
/// ensemble: <c>JsonSerializer.Serialize(input, EnsembleJsonContext.Default.For&lt;OrderFulfilmentEnsemble.Input&gt;())</c>.
/// JSON names are the YAML keys; reading checks every declared field. As a <c>TypeInfoResolver</c> it resolves the types
/// <see cref="For{T}"/> was asked for.
/// </summary>
public sealed class EnsembleJsonContext : JsonSerializerContext
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, JsonTypeInfo> _infos = new();

    /// <summary>Creates a context bound to <paramref name="options"/> (null: defaults).</summary>
    public EnsembleJsonContext(JsonSerializerOptions? options)
        : base(options)
    {
    }

    /// <summary>The context with default options.</summary>
    public static EnsembleJsonContext Default { get; } = new(null);

    /// <inheritdoc />
    protected override JsonSerializerOptions? GeneratedSerializerOptions => null;

    /// <summary>The metadata of <typeparamref name="T"/>, made once per context.</summary>
    public JsonTypeInfo<T> For<T>()
        where T : class, IEnsembleData<T> =>
        (JsonTypeInfo<T>)_infos.GetOrAdd(typeof(T), static (type, options) =>
            JsonMetadataServices.CreateValueInfo<T>(options, new EnsembleDataConverter<T>(LocationOf(type))), Options);

    /// <summary>
    /// Where errors say the data sits: the ensemble's name recovered from its generated class
    /// (<c>OrderPipelineEnsemble</c> is <c>order-pipeline</c>) and the part (<c>input</c>, <c>output</c>, or the type).
    /// </summary>
    private static DataLocation LocationOf(Type type)
    {
        var owner = type.DeclaringType?.Name ?? type.Name;
        if (owner.EndsWith("Ensemble", StringComparison.Ordinal) && owner.Length > 8) owner = owner[..^8];
        var name = new System.Text.StringBuilder(owner.Length + 4);
        for (var i = 0; i < owner.Length; i++)
        {
            if (i > 0 && char.IsUpper(owner[i])) name.Append('-');
            name.Append(char.ToLowerInvariant(owner[i]));
        }

        return new DataLocation(name.ToString(), type.Name switch { "Input" => "input", "Output" => "output", var other => other });
    }

    /// <inheritdoc />
    public override JsonTypeInfo? GetTypeInfo(Type type) => _infos.TryGetValue(type, out var info) ? info : null;
}
