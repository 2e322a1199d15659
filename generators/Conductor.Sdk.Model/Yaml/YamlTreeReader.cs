using System;
using System.Collections.Generic;
using System.IO;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Conductor.Sdk.Model.Yaml
{
    /// <summary>
    /// Reads YAML into a positioned tree from the parser's event stream, without recursion, so
    /// that hostile input (deep nesting, alias bombs) ends in a diagnostic instead of a stack
    /// overflow or an out-of-memory inside the compiler.
    /// </summary>
    internal static class YamlTreeReader
    {
        /// <summary>Deepest nesting accepted; real ensembles use fewer than ten levels.</summary>
        public const int MaxDepth = 64;

        /// <summary>How many nodes alias expansion may add on top of the nodes written in the file.</summary>
        public const long MaxAliasExpansion = 100_000;

        public sealed class ReadResult
        {
            public YNode? Root { get; set; }
            public string? Error { get; set; }
            public SourceSpan ErrorSpan { get; set; }
        }

        public static ReadResult Read(SourceMap map)
        {
            var result = new ReadResult();
            var anchors = new Dictionary<string, YNode>(StringComparer.Ordinal);
            var sizes = new Dictionary<YNode, long>();
            var stack = new Stack<Frame>();
            long written = 0;
            var documents = 0;

            try
            {
                var parser = new Parser(new StringReader(map.ParserText));
                while (parser.MoveNext())
                {
                    var current = parser.Current;
                    switch (current)
                    {
                        case DocumentStart start:
                            documents++;
                            if (documents > 1)
                            {
                                return Fail(result, "a file holds exactly one ensemble, but a second YAML document starts here; split it into its own file", Span(map, start));
                            }

                            break;

                        case MappingStart mappingStart:
                        {
                            if (stack.Count >= MaxDepth)
                            {
                                return Fail(result, $"nesting is deeper than {MaxDepth} levels; an ensemble never needs this, check for unbalanced brackets", Span(map, mappingStart));
                            }

                            var node = new YMapping(Span(map, mappingStart));
                            stack.Push(new Frame(node, mappingStart.Start, mappingStart.Anchor));
                            written++;
                            break;
                        }

                        case SequenceStart sequenceStart:
                        {
                            if (stack.Count >= MaxDepth)
                            {
                                return Fail(result, $"nesting is deeper than {MaxDepth} levels; an ensemble never needs this, check for unbalanced brackets", Span(map, sequenceStart));
                            }

                            var node = new YSequence(Span(map, sequenceStart));
                            stack.Push(new Frame(node, sequenceStart.Start, sequenceStart.Anchor));
                            written++;
                            break;
                        }

                        case MappingEnd mappingEnd:
                        case SequenceEnd sequenceEnd:
                        {
                            var frame = stack.Pop();
                            var finished = Close(map, frame, current.End);
                            // Anchors of collections are registered when they close, so an alias can never point into itself.
                            Register(anchors, frame.Anchor, finished);
                            sizes[finished] = SizeOf(finished, sizes);
                            if (sizes[finished] - written > MaxAliasExpansion)
                            {
                                return Fail(result, $"aliases expand to more than {MaxAliasExpansion:N0} nodes; this looks like an alias bomb — use fewer nested aliases", finished.Span);
                            }

                            if (!Attach(stack, finished)) result.Root = finished;
                            break;
                        }

                        case Scalar scalar:
                        {
                            var node = new YScalar(
                                Span(map, scalar),
                                scalar.Value,
                                scalar.Style == ScalarStyle.Plain,
                                scalar.Style == ScalarStyle.Literal || scalar.Style == ScalarStyle.Folded);
                            Register(anchors, scalar.Anchor, node);
                            sizes[node] = 1;
                            written++;
                            if (!Attach(stack, node)) result.Root = node;
                            break;
                        }

                        case AnchorAlias alias:
                        {
                            if (!anchors.TryGetValue(alias.Value.Value, out var target))
                            {
                                return Fail(result, $"alias '*{alias.Value.Value}' refers to an anchor that is not defined before it; define '&{alias.Value.Value}' first", Span(map, alias));
                            }

                            var node = new YAlias(Span(map, alias), target);
                            sizes[node] = sizes.TryGetValue(target, out var targetSize) ? targetSize : 1;
                            if (!Attach(stack, node)) result.Root = node;
                            break;
                        }
                    }
                }
            }
            catch (YamlException ex)
            {
                var start = map.ParserOffset((int)Math.Min(int.MaxValue - 1, Math.Max(0, ex.Start.Index)));
                var end = Math.Max(start, map.ParserOffset((int)Math.Min(int.MaxValue - 1, Math.Max(0, ex.End.Index))));
                return Fail(result, "YAML syntax error: " + Describe(ex) + QuotingHint(map.Text, start), map.Span(start, end));
            }

            return result;
        }

        /// <summary>
        /// In a flow collection (<c>[...]</c>, <c>{...}</c>) braces are syntax, so an unquoted <c>${env.X}</c> breaks the
        /// parse; say so when the failing line has one.
        /// </summary>
        private static string QuotingHint(string text, int offset)
        {
            var lineStart = offset <= 0 ? 0 : text.LastIndexOf('\n', Math.Min(offset, text.Length) - 1) + 1;
            var lineEnd = text.IndexOf('\n', Math.Min(offset, text.Length));
            var line = text.Substring(lineStart, (lineEnd < 0 ? text.Length : lineEnd) - lineStart);
            var flowStart = line.IndexOfAny(new[] { '[', '{' });
            var binding = line.IndexOf("${", StringComparison.Ordinal);
            if (flowStart < 0 || binding < 0 || binding < flowStart) return string.Empty;
            var before = binding > 0 ? line[binding - 1] : ' ';
            return before == '"' || before == '\'' ? string.Empty : "; a ${...} binding inside [ ] or { } must be quoted, as in [\"${env.NAME}\"]";
        }

        private static string Describe(YamlException ex)
        {
            // YamlDotNet prefixes messages with "(Line: 1, Col: 1, Idx: 0) - (...): "; the diagnostic carries the location already.
            var message = ex.Message;
            var marker = "): ";
            var index = message.IndexOf(marker, StringComparison.Ordinal);
            if (message.StartsWith("(", StringComparison.Ordinal) && index > 0)
            {
                message = message.Substring(index + marker.Length);
            }

            return message.TrimEnd('.');
        }

        private static ReadResult Fail(ReadResult result, string message, SourceSpan span)
        {
            result.Root = null;
            result.Error = message;
            result.ErrorSpan = span;
            return result;
        }

        private static void Register(Dictionary<string, YNode> anchors, AnchorName anchor, YNode node)
        {
            if (!anchor.IsEmpty) anchors[anchor.Value] = node;
        }

        private static long SizeOf(YNode node, Dictionary<YNode, long> sizes)
        {
            long total = 1;
            switch (node)
            {
                case YMapping mapping:
                    foreach (var entry in mapping.Entries)
                    {
                        total = Add(total, Add(sizes[entry.Key], sizes[entry.Value]));
                    }

                    break;
                case YSequence sequence:
                    foreach (var item in sequence.Items)
                    {
                        total = Add(total, sizes[item]);
                    }

                    break;
            }

            return total;
        }

        private static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

        private static YNode Close(SourceMap map, Frame frame, Mark end)
        {
            var node = frame.Node;
            var start = ToOffset(map, frame.Start);
            var endOffset = ToOffset(map, end);
            // The parser ends a flow collection before its closing bracket; include it so the span covers what was written.
            if (endOffset < map.Text.Length && start < map.Text.Length &&
                ((map.Text[start] == '[' && map.Text[endOffset] == ']') || (map.Text[start] == '{' && map.Text[endOffset] == '}')))
            {
                endOffset++;
            }

            node.Span = map.Span(start, endOffset);
            if (node is YMapping mapping)
            {
                for (var i = 0; i + 1 < frame.Children.Count; i += 2)
                {
                    mapping.Entries.Add(new KeyValuePair<YNode, YNode>(frame.Children[i], frame.Children[i + 1]));
                }
            }

            return node;
        }

        private static bool Attach(Stack<Frame> stack, YNode node)
        {
            if (stack.Count == 0) return false;
            var parent = stack.Peek();
            if (parent.Node is YSequence sequence) sequence.Items.Add(node);
            else parent.Children.Add(node);
            return true;
        }

        private static SourceSpan Span(SourceMap map, ParsingEvent e) => map.Span(ToOffset(map, e.Start), ToOffset(map, e.End));

        private static int ToOffset(SourceMap map, Mark mark) => map.ParserOffset((int)Math.Min(int.MaxValue - 1, Math.Max(0, mark.Index)));

        private sealed class Frame
        {
            public Frame(YNode node, Mark start, AnchorName anchor)
            {
                Node = node;
                Start = start;
                Anchor = anchor;
            }

            public YNode Node { get; }
            public Mark Start { get; }
            public AnchorName Anchor { get; }
            public List<YNode> Children { get; } = new List<YNode>();
        }
    }
}
