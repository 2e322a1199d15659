using System;
using System.Collections.Generic;
using System.Globalization;

namespace Conductor.Sdk.Model.Templates
{
    /// <summary>A template or expression that could not be parsed, and where.</summary>
    public sealed record TemplateError(string Message, SourceSpan Span);

    /// <summary>
    /// Parses <c>${...}</c> templates and condition expressions:
    /// literals ('text', numbers, true/false, null), paths, <c>== != &lt; &lt;= &gt; &gt;= &amp;&amp; || !</c> and parentheses.
    /// </summary>
    public static partial class TemplateParser
    {
        /// <summary>Deepest parenthesis/operator nesting accepted in one expression.</summary>
        public const int MaxExpressionDepth = 32;

        /// <summary>Parses a template written outside any file; spans are offsets into <paramref name="text"/>.</summary>
        public static Template Parse(string text, out IReadOnlyList<TemplateError> errors)
        {
            var list = new List<TemplateError>();
            var template = Parse(text, TextLocator.ForText(text), list);
            errors = list;
            return template;
        }

        internal static Template Parse(string text, TextLocator locator, List<TemplateError> errors)
        {
            var parts = new List<TemplatePart>();
            var position = 0;
            var literalStart = 0;
            while (position < text.Length)
            {
                var open = text.IndexOf("${", position, StringComparison.Ordinal);
                if (open < 0) break;
                var close = FindClose(text, open + 2);
                if (close < 0)
                {
                    locator.BeginExpression(text, open, text.Length);
                    errors.Add(new TemplateError(
                        "unterminated '${' in template; close the binding with '}'",
                        locator.Span(open, text.Length)));
                    locator.EndExpression();
                    AddLiteral(parts, text, literalStart, text.Length, locator);
                    return new Template(text, parts.ToEquatableArray(), locator.Span(0, text.Length));
                }

                AddLiteral(parts, text, literalStart, open, locator);
                locator.BeginExpression(text, open, close + 1);
                var source = text.Substring(open + 2, close - open - 2);
                var expression = ParseExpression(text, open + 2, close, locator, errors);
                if (expression is not null)
                {
                    parts.Add(new ExpressionPart(expression, source, locator.Span(open, close + 1)));
                }

                locator.EndExpression();
                position = close + 1;
                literalStart = position;
            }

            AddLiteral(parts, text, literalStart, text.Length, locator);
            return new Template(text, parts.ToEquatableArray(), locator.Span(0, text.Length));
        }

        private static void AddLiteral(List<TemplatePart> parts, string text, int start, int end, TextLocator locator)
        {
            if (end > start) parts.Add(new LiteralPart(text.Substring(start, end - start), locator.Span(start, end)));
        }

        /// <summary>Finds the '}' that closes a binding, skipping quoted strings inside it.</summary>
        private static int FindClose(string text, int from)
        {
            char? quote = null;
            for (var i = from; i < text.Length; i++)
            {
                var c = text[i];
                if (quote is char q)
                {
                    if (c == '\\') i++;
                    else if (c == q) quote = null;
                }
                else if (c == '\'' || c == '"')
                {
                    quote = c;
                }
                else if (c == '}')
                {
                    return i;
                }
                else if (c == '\n' || c == '\r')
                {
                    return -1;
                }
            }

            return -1;
        }

        private static Expression? ParseExpression(string text, int start, int end, TextLocator locator, List<TemplateError> errors)
        {
            var tokens = Tokenizer.Tokenize(text, start, end, out var lexError);
            if (lexError is not null)
            {
                errors.Add(new TemplateError(lexError.Value.Message, locator.Span(lexError.Value.Start, lexError.Value.End)));
                return null;
            }

            if (tokens.Count == 1)
            {
                errors.Add(new TemplateError("empty binding '${}'; write a path such as ${event} or ${env.NAME}", locator.Span(start - 2, end + 1)));
                return null;
            }

            var parser = new ExpressionParser(tokens, locator);
            try
            {
                var expression = parser.ParseOr(0);
                if (parser.Current.Kind != TokenKind.End)
                {
                    throw new ExpressionSyntaxException(
                        $"unexpected '{parser.Current.Text}' in expression; expected an operator (== != < <= > >= && ||) or the end of the binding",
                        parser.Current);
                }

                return expression;
            }
            catch (ExpressionSyntaxException ex)
            {
                errors.Add(new TemplateError(ex.Message, locator.Span(ex.Token.Start, Math.Max(ex.Token.End, ex.Token.Start + 1))));
                return null;
            }
        }
    }
}
