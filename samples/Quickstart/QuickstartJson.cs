using System.Text.Json.Serialization;

namespace Quickstart;

/// <summary>Source-generated JSON metadata for the run input (no reflection).</summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class QuickstartJson : JsonSerializerContext;
