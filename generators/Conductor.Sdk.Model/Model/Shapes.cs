namespace Conductor.Sdk.Model
{
    /// <summary>The kinds of value a declared shape can describe (docs/types.md).</summary>
    public enum ShapeKind
    {
        /// <summary><c>string</c>: text.</summary>
        String,
        /// <summary><c>int</c>: a 32-bit whole number.</summary>
        Int,
        /// <summary><c>long</c>: a 64-bit whole number.</summary>
        Long,
        /// <summary><c>number</c>: a floating-point number (C# <c>double</c>).</summary>
        Number,
        /// <summary><c>decimal</c>: an exact decimal number (money).</summary>
        Decimal,
        /// <summary><c>bool</c>: true or false.</summary>
        Bool,
        /// <summary><c>datetime</c>: an ISO 8601 instant (C# <c>DateTimeOffset</c>).</summary>
        DateTime,
        /// <summary><c>json</c>: any JSON value, not checked (C# <c>JsonElement</c>).</summary>
        Json,
        /// <summary><c>[a, b, c]</c>: one of a closed set of strings (a C# enum).</summary>
        Enum,
        /// <summary>A mapping of named fields (a C# record).</summary>
        Object,
        /// <summary><c>[T]</c>: a list of one element type.</summary>
        Array,
    }

    /// <summary>
    /// A declared type: the shape of the ensemble's <c>input:</c>, of an agent step's <c>output:</c>, or of a part of
    /// them. Value-equal, like every model, so that the generator's cache compares parses by content.
    /// </summary>
    /// <param name="Kind">What kind of value it is.</param>
    /// <param name="Fields">The fields of an <see cref="ShapeKind.Object"/>, in file order.</param>
    /// <param name="Values">The allowed strings of an <see cref="ShapeKind.Enum"/>, in file order.</param>
    /// <param name="Element">The element type of an <see cref="ShapeKind.Array"/>.</param>
    /// <param name="Span">Where the type is written.</param>
    public sealed record Shape(ShapeKind Kind, EquatableArray<ShapeField> Fields, EquatableArray<string> Values, Shape? Element, SourceSpan Span)
    {
        /// <summary>A scalar type (string, int, ..., json).</summary>
        public static Shape Scalar(ShapeKind kind, SourceSpan span) => new Shape(kind, EquatableArray<ShapeField>.Empty, EquatableArray<string>.Empty, null, span);

        /// <summary>The field with the given YAML key, or null.</summary>
        public ShapeField? Field(string key)
        {
            foreach (var field in Fields)
            {
                if (field.Key.Value == key) return field;
            }

            return null;
        }

        /// <summary>How the type reads in messages and docs: <c>string</c>, <c>[low, high]</c>, <c>[{...}]</c>.</summary>
        public string Describe() => Kind switch
        {
            ShapeKind.Enum => "one of [" + string.Join(", ", Values) + "]",
            ShapeKind.Object => "an object",
            ShapeKind.Array => "a list of " + (Element?.Describe() ?? "values"),
            ShapeKind.DateTime => "a datetime",
            ShapeKind.Json => "any JSON value",
            ShapeKind.Int or ShapeKind.Long => "a whole number (" + Kind.ToString().ToLowerInvariant() + ")",
            ShapeKind.Number or ShapeKind.Decimal => "a number (" + Kind.ToString().ToLowerInvariant() + ")",
            ShapeKind.Bool => "a bool",
            _ => "a string",
        };
    }

    /// <summary>A named field of an object shape. <paramref name="Optional"/>: written <c>key?:</c> or <c>type?</c>; it may be absent or null.</summary>
    public sealed record ShapeField(LocatedString Key, Shape Type, bool Optional);
}
