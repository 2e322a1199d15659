using System;
using System.Collections.Generic;
using System.Globalization;

namespace Conductor.Sdk.Model.Templates
{
    /// <summary>The expression inside <c>${...}</c>: tokens, then a recursive-descent parser with a depth limit.</summary>
    public static partial class TemplateParser
    {
        private enum TokenKind
        {
            Identifier,
            Number,
            String,
            Operator,
            End,
        }

        private readonly struct Token
        {
            public Token(TokenKind kind, string text, int start, int end)
            {
                Kind = kind;
                Text = text;
                Start = start;
                End = end;
            }

            public TokenKind Kind { get; }
            public string Text { get; }
            public int Start { get; }
            public int End { get; }
        }

        private readonly struct LexError
        {
            public LexError(string message, int start, int end)
            {
                Message = message;
                Start = start;
                End = end;
            }

            public string Message { get; }
            public int Start { get; }
            public int End { get; }
        }

        private sealed class ExpressionSyntaxException : Exception
        {
            public ExpressionSyntaxException(string message, Token token) : base(message) => Token = token;

            public Token Token { get; }
        }

        private static class Tokenizer
        {
            private static readonly string[] Operators = { "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", ".", "[", "]" };

            public static List<Token> Tokenize(string text, int start, int end, out LexError? error)
            {
                error = null;
                var tokens = new List<Token>();
                var i = start;
                while (i < end)
                {
                    var c = text[i];
                    if (char.IsWhiteSpace(c))
                    {
                        i++;
                        continue;
                    }

                    if (IsIdentifierStart(c))
                    {
                        var s = i;
                        while (i < end && IsIdentifierPart(text[i])) i++;
                        // A trailing '-' belongs to no name; step names are kebab-case, so '-' only joins words.
                        while (i > s + 1 && text[i - 1] == '-') i--;
                        tokens.Add(new Token(TokenKind.Identifier, text.Substring(s, i - s), s, i));
                        continue;
                    }

                    if (char.IsDigit(c) || (c == '-' && i + 1 < end && char.IsDigit(text[i + 1]) && PrecedesOperand(tokens)))
                    {
                        var s = i;
                        i++;
                        while (i < end && (char.IsDigit(text[i]) || text[i] == '.')) i++;
                        var number = text.Substring(s, i - s);
                        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                        {
                            error = new LexError($"'{number}' is not a number", s, i);
                            return tokens;
                        }

                        tokens.Add(new Token(TokenKind.Number, number, s, i));
                        continue;
                    }

                    if (c == '\'' || c == '"')
                    {
                        var s = i;
                        var builder = new System.Text.StringBuilder();
                        i++;
                        var closed = false;
                        while (i < end)
                        {
                            if (text[i] == '\\' && i + 1 < end)
                            {
                                builder.Append(text[i + 1]);
                                i += 2;
                                continue;
                            }

                            if (text[i] == c)
                            {
                                closed = true;
                                i++;
                                break;
                            }

                            builder.Append(text[i]);
                            i++;
                        }

                        if (!closed)
                        {
                            error = new LexError($"unterminated string literal; close it with {c}", s, end);
                            return tokens;
                        }

                        tokens.Add(new Token(TokenKind.String, builder.ToString(), s, i));
                        continue;
                    }

                    var matched = false;
                    foreach (var op in Operators)
                    {
                        if (string.CompareOrdinal(text, i, op, 0, op.Length) == 0 && i + op.Length <= end)
                        {
                            tokens.Add(new Token(TokenKind.Operator, op, i, i + op.Length));
                            i += op.Length;
                            matched = true;
                            break;
                        }
                    }

                    if (!matched)
                    {
                        var hint = c == '=' ? " (use '==' to compare)" : c == '&' ? " (use '&&')" : c == '|' ? " (use '||')" : string.Empty;
                        error = new LexError($"unexpected character '{c}' in binding{hint}", i, i + 1);
                        return tokens;
                    }
                }

                tokens.Add(new Token(TokenKind.End, "end of binding", end, end));
                return tokens;
            }

            private static bool PrecedesOperand(List<Token> tokens) =>
                tokens.Count == 0 || (tokens[tokens.Count - 1].Kind == TokenKind.Operator && tokens[tokens.Count - 1].Text != ")" && tokens[tokens.Count - 1].Text != "]");

            private static bool IsIdentifierStart(char c) => c == '_' || (c < 128 && char.IsLetter(c));

            private static bool IsIdentifierPart(char c) => c == '_' || c == '-' || (c < 128 && char.IsLetterOrDigit(c));
        }

        private sealed class ExpressionParser
        {
            private readonly List<Token> _tokens;
            private readonly TextLocator _locator;
            private int _index;

            public ExpressionParser(List<Token> tokens, TextLocator locator)
            {
                _tokens = tokens;
                _locator = locator;
            }

            public Token Current => _tokens[_index];

            public Expression ParseOr(int depth)
            {
                var left = ParseAnd(depth);
                while (IsOperator("||"))
                {
                    _index++;
                    var right = ParseAnd(depth);
                    left = new BinaryExpression(BinaryOperator.Or, left, right, left.Span.Through(right.Span));
                }

                return left;
            }

            private Expression ParseAnd(int depth)
            {
                var left = ParseComparison(depth);
                while (IsOperator("&&"))
                {
                    _index++;
                    var right = ParseComparison(depth);
                    left = new BinaryExpression(BinaryOperator.And, left, right, left.Span.Through(right.Span));
                }

                return left;
            }

            private Expression ParseComparison(int depth)
            {
                var left = ParseUnary(depth);
                var op = ComparisonOperator(Current);
                if (op is BinaryOperator comparison)
                {
                    _index++;
                    var right = ParseUnary(depth);
                    left = new BinaryExpression(comparison, left, right, left.Span.Through(right.Span));
                    if (ComparisonOperator(Current) is not null)
                    {
                        throw new ExpressionSyntaxException("comparisons cannot be chained; combine them with && or ||", Current);
                    }
                }

                return left;
            }

            private Expression ParseUnary(int depth)
            {
                if (depth > MaxExpressionDepth)
                {
                    throw new ExpressionSyntaxException($"expression is nested deeper than {MaxExpressionDepth} levels", Current);
                }

                if (IsOperator("!"))
                {
                    var bang = Current;
                    _index++;
                    var operand = ParseUnary(depth + 1);
                    return new UnaryExpression(UnaryOperator.Not, operand, Span(bang.Start, operand));
                }

                return ParsePrimary(depth);
            }

            private Expression ParsePrimary(int depth)
            {
                var token = Current;
                switch (token.Kind)
                {
                    case TokenKind.String:
                        _index++;
                        return new LiteralExpression(LiteralKind.String, token.Text, _locator.Span(token.Start, token.End));
                    case TokenKind.Number:
                        _index++;
                        return new LiteralExpression(LiteralKind.Number, token.Text, _locator.Span(token.Start, token.End));
                    case TokenKind.Identifier:
                        if (token.Text == "true" || token.Text == "false")
                        {
                            _index++;
                            return new LiteralExpression(LiteralKind.Boolean, token.Text, _locator.Span(token.Start, token.End));
                        }

                        if (token.Text == "null")
                        {
                            _index++;
                            return new LiteralExpression(LiteralKind.Null, token.Text, _locator.Span(token.Start, token.End));
                        }

                        return ParsePath();
                    case TokenKind.Operator when token.Text == "(":
                    {
                        _index++;
                        var inner = ParseOr(depth + 1);
                        if (!IsOperator(")"))
                        {
                            throw new ExpressionSyntaxException("missing ')' to close '('", Current);
                        }

                        _index++;
                        return inner;
                    }

                    case TokenKind.End:
                        throw new ExpressionSyntaxException("expression ends too early; a value or path is missing", token);
                    default:
                        throw new ExpressionSyntaxException($"unexpected '{token.Text}'; expected a path, a quoted string, a number, true, false or null", token);
                }
            }

            private Expression ParsePath()
            {
                var segments = new List<PathSegment>();
                var first = Current;
                segments.Add(new PathSegment(first.Text, null, _locator.Span(first.Start, first.End)));
                _index++;
                var end = first.End;
                while (true)
                {
                    if (IsOperator("."))
                    {
                        _index++;
                        var name = Current;
                        if (name.Kind != TokenKind.Identifier && name.Kind != TokenKind.Number)
                        {
                            throw new ExpressionSyntaxException("a name must follow '.' in a path", name);
                        }

                        segments.Add(new PathSegment(name.Text, null, _locator.Span(name.Start, name.End)));
                        end = name.End;
                        _index++;
                    }
                    else if (IsOperator("["))
                    {
                        var open = Current;
                        _index++;
                        var number = Current;
                        if (number.Kind != TokenKind.Number || !int.TryParse(number.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                        {
                            throw new ExpressionSyntaxException("an index in brackets must be a non-negative whole number, as in items[0]", number);
                        }

                        _index++;
                        if (!IsOperator("]"))
                        {
                            throw new ExpressionSyntaxException("missing ']' after the index", Current);
                        }

                        end = Current.End;
                        segments.Add(new PathSegment(number.Text, index, _locator.Span(open.Start, end)));
                        _index++;
                    }
                    else
                    {
                        break;
                    }
                }

                return new PathExpression(segments.ToEquatableArray(), _locator.Span(first.Start, end));
            }

            private SourceSpan Span(int start, Expression last) => _locator.Span(start, start).Through(last.Span);

            private bool IsOperator(string text) => Current.Kind == TokenKind.Operator && Current.Text == text;

            private static BinaryOperator? ComparisonOperator(Token token)
            {
                if (token.Kind != TokenKind.Operator) return null;
                switch (token.Text)
                {
                    case "==": return BinaryOperator.Equal;
                    case "!=": return BinaryOperator.NotEqual;
                    case "<": return BinaryOperator.LessThan;
                    case "<=": return BinaryOperator.LessThanOrEqual;
                    case ">": return BinaryOperator.GreaterThan;
                    case ">=": return BinaryOperator.GreaterThanOrEqual;
                    default: return null;
                }
            }
        }
    }
}
