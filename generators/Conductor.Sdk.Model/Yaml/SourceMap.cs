using System;
using System.Collections.Generic;

namespace Conductor.Sdk.Model.Yaml
{
    /// <summary>Turns character offsets of a file into line/column spans.</summary>
    internal sealed class SourceMap
    {
        private readonly int[] _lineStarts;

        public SourceMap(string text)
        {
            Text = text;
            var starts = new List<int> { 0 };
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (c == '\r')
                {
                    if (i + 1 < text.Length && text[i + 1] == '\n') i++;
                    starts.Add(i + 1);
                }
                else if (c == '\n')
                {
                    starts.Add(i + 1);
                }
            }

            _lineStarts = starts.ToArray();
        }

        public string Text { get; }

        /// <summary>
        /// The text the YAML parser reads: <see cref="Text"/> without a leading byte-order mark, which the
        /// parser would otherwise take for content. <see cref="ParserOffset"/> maps its offsets back.
        /// </summary>
        public string ParserText => _parserShift == 0 ? Text : Text.Substring(_parserShift);

        private int _parserShift => Text.Length > 0 && Text[0] == '\uFEFF' ? 1 : 0;

        /// <summary>Converts an offset in <see cref="ParserText"/> to an offset in <see cref="Text"/>.</summary>
        public int ParserOffset(int offset) => offset + _parserShift;

        public SourceSpan Span(int start, int end)
        {
            start = Clamp(start);
            end = Math.Max(start, Clamp(end));
            var (startLine, startColumn) = Position(start);
            var (endLine, endColumn) = Position(end);
            return new SourceSpan(start, end - start, startLine, startColumn, endLine, endColumn);
        }

        private int Clamp(int offset) => offset < 0 ? 0 : offset > Text.Length ? Text.Length : offset;

        private (int Line, int Column) Position(int offset)
        {
            var line = Array.BinarySearch(_lineStarts, offset);
            if (line < 0) line = ~line - 1;
            return (line, offset - _lineStarts[line]);
        }
    }
}
