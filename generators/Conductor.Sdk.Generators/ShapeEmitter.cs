using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Conductor.Sdk.Model;
using Conductor.Sdk.Model.Validation;

namespace Conductor.Sdk.Generators
{
    /// <summary>
    /// Writes the C# types of an ensemble's declared shapes (docs/types.md): a record per object with its JSON reader
    /// and writer (names equal to the YAML keys, no reflection), an enum per closed set of strings, and the typed
    /// agent contracts. Names: <c>Input</c>, <c>{Agent}Output</c>, nested types <c>{Owner}{Field}</c> (list items
    /// singular: <c>InputItem</c> for <c>items</c>).
    /// </summary>
    internal sealed class ShapeEmitter
    {
        /// <summary>The alias generated files declare for the runtime's JSON helpers.</summary>
        public const string Json = "ConductorJson";

        /// <summary>The alias generated files declare for <c>JsonPropertyNameAttribute</c>.</summary>
        public const string JsonName = "JsonPropertyName";

        /// <summary>The runtime base class of generated data types (equality, hashing, ToString over the JSON form).</summary>
        public const string RecordBase = "global::Conductor.Sdk.Ensembles.EnsembleRecord";
        private const string Ensembles = "global::Conductor.Sdk.Ensembles";
        private const string JsonNs = "global::System.Text.Json";

        // Keyed by reference: equal shapes declared in two places still get their own types.
        private readonly Dictionary<Shape, string> _names = new Dictionary<Shape, string>(ReferenceComparer.Instance);
        private readonly List<(Shape Shape, string Name, string Part)> _records = new List<(Shape, string, string)>();
        private readonly List<(Shape Shape, string Name)> _enums = new List<(Shape, string)>();
        private readonly HashSet<string> _used = new HashSet<string>(System.StringComparer.Ordinal)
        {
            "Name", "Description", "Timeout", "Agents", "Steps", "Output", "EnvironmentRequirements", "CreateNotifications", "Flow",
            "Outputs", "RunAsync", "AgentRegistrations", "NotifyApi", "Notify", "JsonContext", "OutputValues",
        };

        private readonly List<(string Agent, Shape Shape)> _agentOutputs;

        public ShapeEmitter(EnsembleDefinition ensemble)
        {
            Ensemble = ensemble;
            _agentOutputs = AgentOutputs(ensemble);
            if (ensemble.Input is not null) Name(ensemble.Input, "Input", null, "input");
            foreach (var (agent, shape) in _agentOutputs)
            {
                var baseName = Naming.ToPascalCase(agent);
                Name(shape, baseName + "Output", baseName, $"agent '{agent}' output");
            }
        }

        public EnsembleDefinition Ensemble { get; }

        /// <summary>Each agent with a declared output, in flow order (computed once).</summary>
        public IReadOnlyList<(string Agent, Shape Shape)> DeclaredAgentOutputs => _agentOutputs;

        /// <summary>Each agent with a declared output, in flow order (the first declaration of an agent wins).</summary>
        public static List<(string Agent, Shape Shape)> AgentOutputs(EnsembleDefinition ensemble)
        {
            var result = new List<(string, Shape)>();
            foreach (var step in ensemble.Flow)
            {
                if (step.Agent is null || result.Any(r => r.Item1 == step.Agent.Value)) continue;
                var shape = BindingTypes.StepOutput(ensemble, step);
                if (shape is not null) result.Add((step.Agent.Value, shape));
            }

            return result;
        }

        /// <summary>The generated type name of a declared object or enum.</summary>
        public string NameOf(Shape shape) => _names[shape];

        /// <summary>The output record of an agent, or null when its output is not declared.</summary>
        public string? OutputTypeOf(string agent)
        {
            foreach (var (a, shape) in _agentOutputs)
            {
                if (a == agent) return NameOf(shape);
            }

            return null;
        }

        /// <summary>Names an object or enum and, for an object, its nested types (prefixed with <paramref name="prefix"/>, else its own name).</summary>
        private void Name(Shape shape, string name, string? prefix, string part)
        {
            switch (shape.Kind)
            {
                case ShapeKind.Object:
                    name = Unique(name);
                    _names[shape] = name;
                    _records.Add((shape, name, part));
                    foreach (var field in shape.Fields)
                    {
                        Name(field.Type, (prefix ?? name) + Naming.ToPascalCase(field.Key.Value), null, part);
                    }

                    break;
                case ShapeKind.Enum:
                    name = Unique(name);
                    _used.Add(name + "Values");
                    _names[shape] = name;
                    _enums.Add((shape, name));
                    break;
                case ShapeKind.Array:
                    Name(shape.Element!, Singular(name), prefix, part);
                    break;
            }
        }

        private string Unique(string name)
        {
            var candidate = name;
            for (var i = 2; !_used.Add(candidate); i++) candidate = name + i.ToString(CultureInfo.InvariantCulture);
            return candidate;
        }

        /// <summary>
        /// The XML doc of a list of declared objects or enums: where its item type's name comes from, so that a user who
        /// meets <c>InputLine</c> beside <c>PriceBreakdownItem</c> finds the rule where the property is.
        /// </summary>
        public string? ListItemDoc(string key, Shape type)
        {
            if (type.Kind != ShapeKind.Array || !_names.TryGetValue(type.Element!, out var item)) return null;
            return $"/// <summary>The YAML list <c>{TypedEnsembleEmitter.Xml(key)}</c>; each item is a <see cref=\"{item}\"/>, named after the list: its key in the singular (lines → Line, entries → Entry), or with Item added when the key does not end in s (breakdown → BreakdownItem), after the name of the type that holds it (docs/types.md).</summary>";
        }

        private static string Singular(string name)
        {
            if (name.EndsWith("ies", System.StringComparison.Ordinal) && name.Length > 4) return name.Substring(0, name.Length - 3) + "y";
            if (name.EndsWith("s", System.StringComparison.Ordinal) && !name.EndsWith("ss", System.StringComparison.Ordinal) && name.Length > 2) return name.Substring(0, name.Length - 1);
            return name + "Item";
        }

        /// <summary>The property name of a field: its key in PascalCase, with "Value" added where C# forbids the name.</summary>
        public static string PropertyName(string recordName, string key)
        {
            var name = Naming.ToPascalCase(key);
            switch (name)
            {
                case "EqualityContract":
                case "Equals":
                case "GetHashCode":
                case "ToString":
                case "GetType":
                case "MemberwiseClone":
                case "Finalize":
                case "PrintMembers":
                case "Deconstruct":
                case "ReadJson":
                case "WriteJson":
                case "ToJson":
                    return name + "Value";
            }

            return name == recordName ? name + "Value" : name;
        }

        /// <summary>True when every object and enum in <paramref name="shape"/> is a declared one with a generated type.</summary>
        public bool CanType(Shape shape) => shape.Kind switch
        {
            ShapeKind.Object or ShapeKind.Enum => _names.ContainsKey(shape),
            ShapeKind.Array => CanType(shape.Element!),
            _ => true,
        };

        /// <summary>The C# type of a value of <paramref name="shape"/>.</summary>
        public string TypeOf(Shape shape, bool nullable)
        {
            string type;
            switch (shape.Kind)
            {
                case ShapeKind.String: type = "string"; break;
                case ShapeKind.Int: type = "int"; break;
                case ShapeKind.Long: type = "long"; break;
                case ShapeKind.Number: type = "double"; break;
                case ShapeKind.Decimal: type = "decimal"; break;
                case ShapeKind.Bool: type = "bool"; break;
                case ShapeKind.DateTime: type = "global::System.DateTimeOffset"; break;
                case ShapeKind.Json: type = JsonNs + ".JsonElement"; break;
                case ShapeKind.Array: type = "global::System.Collections.Generic.IReadOnlyList<" + TypeOf(shape.Element!, false) + ">"; break;
                default: type = NameOf(shape); break;
            }

            return nullable ? type + "?" : type;
        }

        /// <summary>A C# expression reading a <c>JsonElement?</c> (<paramref name="json"/>) as the type, at location <paramref name="at"/>.</summary>
        public string Read(Shape shape, bool nullable, string json, string at)
        {
            var orNull = nullable ? "OrNull" : string.Empty;
            switch (shape.Kind)
            {
                case ShapeKind.String: return $"{Json}.String{orNull}({json}, {at})";
                case ShapeKind.Int: return $"{Json}.Int32{orNull}({json}, {at})";
                case ShapeKind.Long: return $"{Json}.Int64{orNull}({json}, {at})";
                case ShapeKind.Number: return $"{Json}.Double{orNull}({json}, {at})";
                case ShapeKind.Decimal: return $"{Json}.Decimal{orNull}({json}, {at})";
                case ShapeKind.Bool: return $"{Json}.Boolean{orNull}({json}, {at})";
                case ShapeKind.DateTime: return $"{Json}.DateTime{orNull}({json}, {at})";
                case ShapeKind.Json: return $"{Json}.Json{orNull}({json}, {at})";
                case ShapeKind.Enum: return $"{Json}.Enum{orNull}<{NameOf(shape)}>({json}, {at}, {NameOf(shape)}Values)";
                case ShapeKind.Object: return $"{Json}.Record{orNull}<{NameOf(shape)}>({json}, {at})";
                default: return $"{Json}.List{orNull}<{TypeOf(shape.Element!, false)}>({json}, {at}, {ItemReader(shape.Element!)})";
            }
        }

        private string ItemReader(Shape shape) => shape.Kind switch
        {
            ShapeKind.String => $"{Json}.String",
            ShapeKind.Int => $"{Json}.Int32",
            ShapeKind.Long => $"{Json}.Int64",
            ShapeKind.Number => $"{Json}.Double",
            ShapeKind.Decimal => $"{Json}.Decimal",
            ShapeKind.Bool => $"{Json}.Boolean",
            ShapeKind.DateTime => $"{Json}.DateTime",
            ShapeKind.Json => $"{Json}.Json",
            ShapeKind.Object => $"{Json}.Record<{NameOf(shape)}>",
            _ => $"static (v, a) => {Read(shape, false, "v", "a")}",
        };

        private string ItemWriter(Shape shape) => shape.Kind switch
        {
            ShapeKind.Object => $"{Json}.RecordValue<{NameOf(shape)}>",
            ShapeKind.Enum => $"static (w, v, a) => {Json}.WriteEnum(w, v, {NameOf(shape)}Values, a)",
            ShapeKind.Array => $"static (w, v, a) => {Json}.ListValue<{TypeOf(shape.Element!, false)}>(w, v, {ItemWriter(shape.Element!)}, a)",
            _ => $"{Json}.Value",
        };

        /// <summary>A statement writing property <paramref name="property"/> as the JSON field <paramref name="key"/> (writer <c>w</c>, location <c>at</c>).</summary>
        public string Write(Shape shape, bool nullable, string key, string property)
        {
            var name = TemplateCompiler.Literal(key);
            var optional = nullable ? "true" : "false";
            switch (shape.Kind)
            {
                case ShapeKind.String:
                    return nullable ? $"{Json}.WriteOptional(w, {name}, {property});" : $"{Json}.Write(w, {name}, {property}, at);";
                case ShapeKind.Object:
                    return $"{Json}.WriteRecord(w, {name}, {property}, at, {optional});";
                case ShapeKind.Array:
                    return $"{Json}.WriteList<{TypeOf(shape.Element!, false)}>(w, {name}, {property}, {ItemWriter(shape.Element!)}, at, {optional});";
                case ShapeKind.Enum:
                    return $"{Json}.WriteEnum<{NameOf(shape)}>(w, {name}, {property}, {NameOf(shape)}Values, at, {optional});";
                case ShapeKind.Int:
                case ShapeKind.Long:
                case ShapeKind.Decimal:
                    return nullable ? $"{Json}.WriteOptional(w, {name}, {property});" : $"w.WriteNumber({name}, {property});";
                case ShapeKind.Bool:
                    return nullable ? $"{Json}.WriteOptional(w, {name}, {property});" : $"w.WriteBoolean({name}, {property});";
                case ShapeKind.DateTime:
                    return nullable ? $"{Json}.WriteOptional(w, {name}, {property});" : $"w.WriteString({name}, {property});";
                case ShapeKind.Number:
                    // Finite numbers only: NaN and infinities have no JSON form.
                    return $"{Json}.WriteNumber(w, {name}, {property}, at);";
                default:
                    // json: an undefined element is reported like a null required field.
                    return $"{Json}.WriteJson(w, {name}, {property}, at);";
            }
        }

        /// <summary>Writes every declared record and enum, and the value tables the enums read and write with.</summary>
        public void EmitTypes(SourceWriter w)
        {
            foreach (var (shape, name) in _enums)
            {
                w.Line($"/// <summary>One of [{TypedEnsembleEmitter.Xml(string.Join(", ", shape.Values))}], as declared in the YAML.</summary>");
                w.Line($"[global::System.Text.Json.Serialization.JsonConverter(typeof(global::System.Text.Json.Serialization.JsonStringEnumConverter<{name}>))]");
                w.Open($"public enum {name}");
                foreach (var value in shape.Values)
                {
                    w.Line($"/// <summary><c>{TypedEnsembleEmitter.Xml(value)}</c></summary>");
                    w.Line($"[global::System.Text.Json.Serialization.JsonStringEnumMemberName({TemplateCompiler.Literal(value)})] {Naming.ToPascalCase(value)},");
                }

                w.Close();
                w.Line();
                w.Line($"private static readonly string[] {name}Values = {{ {string.Join(", ", shape.Values.Select(TemplateCompiler.Literal))} }};");
                w.Line();
            }

            foreach (var (shape, name, part) in _records)
            {
                EmitRecord(w, shape, name, part);
            }
        }

        private void EmitRecord(SourceWriter w, Shape shape, string name, string part)
        {
            // Each property keeps its YAML name in JSON; required ones must be set (object initializers), optional ones default to null.
            w.Line($"/// <summary>{TypedEnsembleEmitter.Xml(Summary(part, shape))}</summary>");
            w.Open($"public sealed class {name} : {RecordBase}, {Ensembles}.IEnsembleData<{name}>");
            foreach (var f in shape.Fields)
            {
                if (ListItemDoc(f.Key.Value, f.Type) is { } doc) w.Line(doc);
                w.Line($"[{JsonName}({TemplateCompiler.Literal(f.Key.Value)})] public {(f.Optional ? string.Empty : "required ")}{TypeOf(f.Type, f.Optional)} {PropertyName(name, f.Key.Value)} {{ get; init; }}");
            }

            w.Line();
            var reads = shape.Fields.Select(f => (PropertyName(name, f.Key.Value), Read(f.Type, f.Optional, $"{Json}.Member(e, {TemplateCompiler.Literal(f.Key.Value)})", $"at.Field({TemplateCompiler.Literal(f.Key.Value)})"))).ToList();
            var writes = shape.Fields.Select(f => Write(f.Type, f.Optional, f.Key.Value, PropertyName(name, f.Key.Value))).ToList();
            WriteReadAndWrite(w, name, reads, writes);
            w.Close();
            w.Line();
        }

        /// <summary>The type's JSON reader (an object initializer, checking every field) and writer (YAML key names).</summary>
        public static void WriteReadAndWrite(SourceWriter w, string name, List<(string Property, string Read)> reads, List<string> writes)
        {
            w.Line("/// <summary>Reads the value from JSON, checking every declared field.</summary>");
            w.Line($"public static {name} ReadJson({JsonNs}.JsonElement e, {Ensembles}.DataLocation at) => new()");
            w.Line("{");
            foreach (var (property, read) in reads) w.Line($"    {property} = {read},");
            w.Line("};");
            w.Line();
            w.Line("/// <summary>Writes the value as JSON with the YAML key names.</summary>");
            w.Open($"public override void WriteJson({JsonNs}.Utf8JsonWriter w, {Ensembles}.DataLocation at)");
            w.Line("w.WriteStartObject();");
            foreach (var write in writes) w.Line(write);
            w.Line("w.WriteEndObject();");
            w.Close();
        }

        private static string Summary(string part, Shape shape)
        {
            var fields = string.Join(", ", shape.Fields.Select(f => f.Key.Value + (f.Optional ? "?" : string.Empty)));
            return $"The {part} as declared in the YAML ({(fields.Length == 0 ? "no fields" : fields)}).";
        }

        private sealed class ReferenceComparer : IEqualityComparer<Shape>
        {
            public static readonly ReferenceComparer Instance = new ReferenceComparer();

            public bool Equals(Shape? x, Shape? y) => ReferenceEquals(x, y);

            public int GetHashCode(Shape obj) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
        }
    }
}
