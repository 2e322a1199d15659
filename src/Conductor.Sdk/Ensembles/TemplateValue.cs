using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Conductor.Sdk.Ensembles;

/// <summary>
/// A value read by a compiled template. It formats itself straight into the interpolated string being
/// built, so rendering a template allocates only the resulting string (JSON strings with escape
/// sequences are the exception: they are unescaped through a temporary string).
/// </summary>
public readonly struct TemplateValue : ISpanFormattable
{
    private readonly string? _text;
    private readonly long _number;
    private readonly JsonElement _json;
    private readonly byte _kind; // 0 empty, 1 text, 2 number, 3 json

    private TemplateValue(string? text, long number, JsonElement json, byte kind)
    {
        _text = text;
        _number = number;
        _json = json;
        _kind = kind;
    }

    /// <summary>No value: renders empty.</summary>
    public static TemplateValue Empty => default;

    /// <summary>A text value.</summary>
    public static TemplateValue Text(string? text) => text is null ? default : new TemplateValue(text, 0, default, 1);

    /// <summary>A whole number.</summary>
    public static TemplateValue Number(long number) => new(null, number, default, 2);

    /// <summary>A JSON value: strings render unquoted, null empty, everything else as JSON text.</summary>
    public static TemplateValue Json(JsonElement element) =>
        element.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? default : new TemplateValue(null, 0, element, 3);

    /// <summary>The JSON value when it came from JSON (a number for whole numbers too), else null.</summary>
    public JsonElement? AsJson() => _kind switch
    {
        3 => _json,
        2 => JsonValues.Value(_number),
        _ => null,
    };

    /// <inheritdoc />
    public override string ToString() => _kind switch
    {
        1 => _text!,
        2 => _number.ToString(CultureInfo.InvariantCulture),
        3 => TemplateValues.Text(_json),
        _ => string.Empty,
    };

    /// <inheritdoc />
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <inheritdoc />
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        switch (_kind)
        {
            case 1:
                charsWritten = 0;
                if (!_text.AsSpan().TryCopyTo(destination)) return false;
                charsWritten = _text!.Length;
                return true;
            case 2:
                return _number.TryFormat(destination, out charsWritten, default, CultureInfo.InvariantCulture);
            case 3:
                var raw = JsonMarshal.GetRawUtf8Value(_json);
                if (_json.ValueKind == JsonValueKind.String)
                {
                    raw = raw[1..^1];
                    if (raw.IndexOf((byte)'\\') >= 0)
                    {
                        // Escaped content: let the JSON reader unescape it.
                        var text = _json.GetString() ?? string.Empty;
                        charsWritten = 0;
                        if (!text.AsSpan().TryCopyTo(destination)) return false;
                        charsWritten = text.Length;
                        return true;
                    }
                }

                if (Encoding.UTF8.GetMaxCharCount(raw.Length) > destination.Length && Encoding.UTF8.GetCharCount(raw) > destination.Length)
                {
                    charsWritten = 0;
                    return false;
                }

                charsWritten = Encoding.UTF8.GetChars(raw, destination);
                return true;
            default:
                charsWritten = 0;
                return true;
        }
    }
}
