using System;
using Conductor.Sdk.Model.Yaml;

namespace Conductor.Sdk.Model.Templates
{
    /// <summary>
    /// Maps offsets in a scalar's value back to the file. Plain and simply quoted values map
    /// linearly; for block or escaped values each <c>${...}</c> is found verbatim in the source,
    /// and anything that cannot be found falls back to the whole scalar.
    /// </summary>
    internal sealed class TextLocator
    {
        private readonly SourceMap? _map;
        private readonly SourceSpan _whole;
        private readonly string _raw;
        private readonly int _linearDelta = -1;
        private int _expressionDelta = -1;
        private int _cursor;

        public TextLocator(SourceMap? map, SourceSpan whole, string value)
        {
            _map = map;
            _whole = whole;
            _raw = map is null ? value : SafeSlice(map.Text, whole.Start, whole.Length);
            var index = value.Length == 0 ? -1 : _raw.IndexOf(value, StringComparison.Ordinal);
            if (index >= 0) _linearDelta = index;
        }

        /// <summary>A locator for a bare string (no file): spans are offsets into the string itself.</summary>
        public static TextLocator ForText(string text) => new TextLocator(null, SourceSpan.FileStart, text);

        public void BeginExpression(string value, int start, int end)
        {
            if (_linearDelta >= 0)
            {
                _expressionDelta = _linearDelta;
                return;
            }

            var piece = value.Substring(start, end - start);
            var index = _raw.IndexOf(piece, Math.Min(_cursor, _raw.Length), StringComparison.Ordinal);
            _expressionDelta = index >= 0 ? index - start : -1;
            if (index >= 0) _cursor = index + piece.Length;
        }

        public void EndExpression() => _expressionDelta = -1;

        public SourceSpan Span(int start, int end)
        {
            var delta = _expressionDelta >= 0 ? _expressionDelta : _linearDelta;
            if (_map is null) return new SourceSpan(start, end - start, 0, start, 0, end);
            if (delta < 0) return _whole;
            return _map.Span(_whole.Start + delta + start, _whole.Start + delta + end);
        }

        private static string SafeSlice(string text, int start, int length)
        {
            if (start >= text.Length) return string.Empty;
            return text.Substring(start, Math.Min(length, text.Length - start));
        }
    }
}
