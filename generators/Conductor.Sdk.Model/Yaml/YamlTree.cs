using System.Collections.Generic;

namespace Conductor.Sdk.Model.Yaml
{
    /// <summary>A node of the positioned YAML tree the ensemble parser reads.</summary>
    internal abstract class YNode
    {
        protected YNode(SourceSpan span) => Span = span;

        /// <summary>Where the node is written.</summary>
        public SourceSpan Span { get; set; }

        /// <summary>The node itself, or for an alias the anchored node it stands for.</summary>
        public virtual YNode Resolve() => this;

        /// <summary>A short word for messages: "a mapping", "a list", "a text value".</summary>
        public abstract string KindDescription { get; }
    }

    internal sealed class YScalar : YNode
    {
        public YScalar(SourceSpan span, string value, bool isPlain, bool isBlock)
            : base(span)
        {
            Value = value;
            IsPlain = isPlain;
            IsBlock = isBlock;
        }

        public string Value { get; }

        /// <summary>Unquoted: the only style in which <c>null</c>, <c>~</c> and an empty value mean null.</summary>
        public bool IsPlain { get; }

        public bool IsBlock { get; }

        public bool IsNull => IsPlain && (Value.Length == 0 || Value == "~" || Value == "null" || Value == "Null" || Value == "NULL");

        public override string KindDescription => "a text value";
    }

    internal sealed class YMapping : YNode
    {
        public YMapping(SourceSpan span) : base(span)
        {
        }

        public List<KeyValuePair<YNode, YNode>> Entries { get; } = new List<KeyValuePair<YNode, YNode>>();

        public override string KindDescription => "a mapping";
    }

    internal sealed class YSequence : YNode
    {
        public YSequence(SourceSpan span) : base(span)
        {
        }

        public List<YNode> Items { get; } = new List<YNode>();

        public override string KindDescription => "a list";
    }

    /// <summary>A use of an anchor (<c>*name</c>); keeps its own position for diagnostics.</summary>
    internal sealed class YAlias : YNode
    {
        public YAlias(SourceSpan span, YNode target) : base(span) => Target = target;

        public YNode Target { get; }

        public override YNode Resolve() => Target.Resolve();

        public override string KindDescription => Target.KindDescription;
    }
}
