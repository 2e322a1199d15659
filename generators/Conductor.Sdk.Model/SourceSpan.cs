namespace Conductor.Sdk.Model
{
    /// <summary>
    /// A position range in an ensemble file: character offset and length, and zero-based
    /// line/column of both ends (the shape Roslyn's <c>Location.Create</c> takes).
    /// </summary>
    public readonly record struct SourceSpan(int Start, int Length, int StartLine, int StartColumn, int EndLine, int EndColumn)
    {
        /// <summary>The start of a file.</summary>
        public static SourceSpan FileStart => new SourceSpan(0, 0, 0, 0, 0, 0);

        /// <summary>One-based line, as editors and <c>file(line,col)</c> messages show it.</summary>
        public int DisplayLine => StartLine + 1;

        /// <summary>One-based column, as editors and <c>file(line,col)</c> messages show it.</summary>
        public int DisplayColumn => StartColumn + 1;

        /// <summary>The span from the start of this one to the end of <paramref name="other"/>.</summary>
        public SourceSpan Through(SourceSpan other) =>
            new SourceSpan(Start, other.Start + other.Length - Start, StartLine, StartColumn, other.EndLine, other.EndColumn);

        /// <inheritdoc />
        public override string ToString() => $"({DisplayLine},{DisplayColumn})-({EndLine + 1},{EndColumn + 1})";
    }
}
