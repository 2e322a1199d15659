using System.Text.Json;
using System.Text.Json.Nodes;
using Conductor.Sdk.Model;
using ModelSchema = Conductor.Sdk.Model.Validation.Schema;

namespace Conductor.Cli.Schema;

/// <summary>
/// The JSON Schema (draft 2020-12) of an ensemble YAML file, built from the model's own tables: the keys each section
/// accepts (<see cref="ModelSchema"/>), the event catalog, the providers and their push targets, the type names and the
/// numeric limits. Editors use it through <c># yaml-language-server: $schema=...</c>. It checks structure only (keys,
/// types, enums, ranges, required fields); bindings, templates and types are the build's job (CND diagnostics).
/// <c>schema/ensemble.schema.json</c> in the repository and the package is this output; a test fails when they differ.
/// </summary>
internal static class EnsembleJsonSchema
{
    public const string Id = "https://raw.githubusercontent.com/conductor-sdk/conductor-sdk/main/schema/ensemble.schema.json";

    /// <summary>The schema as indented JSON with a final newline.</summary>
    public static string Generate()
    {
        var schema = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = Id,
            ["title"] = "Conductor.Sdk ensemble",
            ["description"] = "An ensemble: its input, its flow of agent and operation steps, its outputs and the notifications its lifecycle events send. Generated from the Conductor.Sdk model (conductor schema); DESIGN.md section 3.",
            ["type"] = "object",
            ["required"] = Strings("name"),
            ["additionalProperties"] = false,
            ["properties"] = Properties(ModelSchema.RootKeys, key => key switch
            {
                "name" => Describe(new JsonObject { ["type"] = "string", ["minLength"] = 1 }, "The ensemble's name (kebab-case); the generated class is its PascalCase plus 'Ensemble'."),
                "description" => new JsonObject { ["type"] = "string" },
                "timeout" => Describe(Integer(ModelSchema.Limits.MinEnsembleTimeout, ModelSchema.Limits.MaxEnsembleTimeout), "Execution timeout in milliseconds; execution.timeout is emitted when it passes."),
                "input" => Describe(Ref("shape"), "The shape of the run's input (docs/types.md)."),
                "notifications" => new JsonObject { ["type"] = "array", ["items"] = Ref("notification") },
                "flow" => new JsonObject { ["type"] = "array", ["items"] = Ref("step") },
                "outputs" => Describe(new JsonObject { ["type"] = "object", ["additionalProperties"] = Scalar() }, "The run's outputs, usually bindings such as ${ship-order.output.trackingNumber}."),
                _ => throw Unknown("root", key),
            }),
            ["$defs"] = Definitions(),
        };
        return schema.ToJsonString(new JsonSerializerOptions { WriteIndented = true, TypeInfoResolver = CliJsonContext.Default, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    private static JsonObject Definitions()
    {
        var notifications = new JsonArray();
        foreach (var type in ModelSchema.NotificationTypes) notifications.Add(Ref(type));
        var defs = new JsonObject
        {
            ["template"] = Describe(new JsonObject { ["type"] = "string" }, "Text, with ${...} bindings (env, input, event data, step outputs)."),
            ["templates"] = Describe(new JsonObject { ["oneOf"] = new JsonArray(Ref("template"), new JsonObject { ["type"] = "array", ["minItems"] = 1, ["items"] = Ref("template") }) }, "One value or a list."),
            ["events"] = Describe(new JsonObject
            {
                ["type"] = "array",
                ["minItems"] = 1,
                ["items"] = new JsonObject { ["enum"] = Strings(EventCatalog.KnownNames.ToArray()) },
            }, "The lifecycle events that send this notification."),
            ["typeName"] = new JsonObject
            {
                ["type"] = "string",
                ["pattern"] = "^(" + string.Join("|", ModelSchema.TypeNames) + @")\??$",
            },
            ["type"] = Describe(new JsonObject
            {
                ["oneOf"] = new JsonArray(
                    Ref("typeName"),
                    Describe(new JsonObject { ["type"] = "array", ["minItems"] = 1, ["items"] = new JsonObject { ["anyOf"] = new JsonArray(Ref("type"), new JsonObject { ["type"] = "string" }) } }, "[T] is a list of T; [a, b, c] is one of these strings (an enum)."),
                    Ref("shape")),
            }, "A declared type: a type name (string, int, ...; T? is optional), [T], [a, b, c] or a mapping of fields."),
            ["shape"] = new JsonObject
            {
                ["type"] = "object",
                ["propertyNames"] = new JsonObject { ["pattern"] = @"^[A-Za-z][A-Za-z0-9_-]*\??$" },
                ["additionalProperties"] = Ref("type"),
            },
            ["notification"] = new JsonObject { ["oneOf"] = notifications },
            ["webhook"] = Notification("webhook", ModelSchema.WebhookKeys, ["url"], key => key switch
            {
                "url" => Describe(Ref("template"), "The address to POST to (https, or http to an allowed network)."),
                "secret" => Describe(Ref("templates"), "The signing secret, as ${env.NAME}; a list signs with each (rotation)."),
                "retries" => Describe(Integer(ModelSchema.Limits.MinRetries, ModelSchema.Limits.MaxRetries), "Retries after the first attempt (1 s, 5 s, 30 s, 2 min, 5 min)."),
                "timeout" => Describe(Integer(ModelSchema.Limits.MinWebhookTimeout, ModelSchema.Limits.MaxWebhookTimeout), "Per-attempt timeout in milliseconds."),
                "headers" => new JsonObject { ["type"] = "object", ["additionalProperties"] = Ref("template") },
                "format" => new JsonObject { ["enum"] = Strings(ModelSchema.WebhookFormats.ToArray()) },
                "rate-limit" => Describe(new JsonObject { ["type"] = "string", ["pattern"] = ModelSchema.Limits.RateLimitPattern },
                    $"At most <count> attempts per second, minute or hour to this webhook's endpoint, per process: 50/s, 600/min, 1000/h (count {ModelSchema.Limits.MinRatePermits}..{ModelSchema.Limits.MaxRatePermits})."),
                _ => null,
            }),
            ["email"] = Notification("email", ModelSchema.EmailKeys, ["to"], key => key switch
            {
                "to" => Ref("templates"),
                "from" or "subject" => Ref("template"),
                "provider" => new JsonObject { ["enum"] = Strings(ModelSchema.EmailProviders.ToArray()) },
                _ => null,
            }),
            ["sms"] = Notification("sms", ModelSchema.SmsKeys, ["to"], key => key switch
            {
                "to" => Ref("templates"),
                "from" or "body" => Ref("template"),
                "provider" => new JsonObject { ["enum"] = Strings(ModelSchema.SmsProviders.ToArray()) },
                _ => null,
            }),
            ["push"] = Push(),
            ["step"] = Step(),
        };
        return defs;
    }

    /// <summary>A notification type: its keys (no others), <c>type</c> fixed, <c>events</c> and <paramref name="required"/> present.</summary>
    private static JsonObject Notification(string type, IReadOnlyList<string> keys, string[] required, Func<string, JsonNode?> property) => new()
    {
        ["type"] = "object",
        ["required"] = Strings(["type", "events", .. required]),
        ["additionalProperties"] = false,
        ["properties"] = Properties(keys, key => key switch
        {
            "type" => new JsonObject { ["const"] = type },
            "events" => Ref("events"),
            _ => property(key) ?? throw Unknown(type, key),
        }),
    };

    private static JsonObject Push()
    {
        var push = Notification("push", ModelSchema.PushKeys, ["provider"], key => key switch
        {
            "provider" => new JsonObject { ["enum"] = Strings(ModelSchema.PushProviders.ToArray()) },
            "title" or "body" or "image" => Ref("template"),
            "data" => new JsonObject { ["type"] = "object", ["additionalProperties"] = Ref("template") },
            "actions" => new JsonObject
            {
                ["type"] = "array",
                ["items"] = Describe(new JsonObject
                {
                    ["oneOf"] = new JsonArray(
                        Ref("template"),
                        new JsonObject
                        {
                            ["type"] = "object",
                            ["required"] = Strings(ModelSchema.PushActionKeys.ToArray()),
                            ["additionalProperties"] = false,
                            ["properties"] = Properties(ModelSchema.PushActionKeys, _ => Ref("template")),
                        }),
                }, "A button: {id, title}, or one word that is both."),
            },
            _ when ModelSchema.PushTargetKeys.Contains(key) => Ref("template"),
            _ => null,
        });

        // Each provider needs one of its own targets; and a push shows a title, a body or both.
        var rules = new JsonArray(new JsonObject { ["anyOf"] = new JsonArray(Required("title"), Required("body")) });
        foreach (var provider in ModelSchema.PushProviders)
        {
            var targets = new JsonArray();
            foreach (var target in ModelSchema.PushTargets(provider)) targets.Add(Required(target));
            rules.Add(new JsonObject
            {
                ["if"] = new JsonObject { ["required"] = Strings("provider"), ["properties"] = new JsonObject { ["provider"] = new JsonObject { ["const"] = provider } } },
                ["then"] = new JsonObject { ["anyOf"] = targets },
            });
        }

        push["allOf"] = rules;
        return push;
    }

    private static JsonObject Step()
    {
        JsonObject Operation(string operation, IReadOnlyList<string> keys, string[] required) => new()
        {
            ["if"] = new JsonObject { ["required"] = Strings("operation"), ["properties"] = new JsonObject { ["operation"] = new JsonObject { ["const"] = operation } } },
            ["then"] = new JsonObject
            {
                ["required"] = Strings("config"),
                ["properties"] = new JsonObject
                {
                    ["config"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["required"] = Strings(required),
                        ["additionalProperties"] = false,
                        ["properties"] = Properties(keys, key => key is "to" or "cc" or "bcc" ? Ref("templates") : Ref("template")),
                    },
                },
            },
        };

        return new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["anyOf"] = new JsonArray(Required("agent"), Required("operation")),
            ["allOf"] = new JsonArray(
                Operation("sms", ModelSchema.SmsOperationKeys, ["to", "body"]),
                Operation("email", ModelSchema.EmailOperationKeys, ["to", "subject"])),
            ["properties"] = Properties(ModelSchema.StepKeys, key => key switch
            {
                "agent" => Describe(new JsonObject { ["type"] = "string", ["minLength"] = 1 }, "The agent to run (kebab-case); the app registers its implementation."),
                "name" => new JsonObject { ["type"] = "string", ["minLength"] = 1 },
                "operation" => new JsonObject { ["enum"] = Strings(ModelSchema.Operations.ToArray()) },
                "condition" => Describe(Ref("template"), "A ${...} condition; the step is skipped when it is false."),
                "config" => new JsonObject { ["type"] = "object" },
                "input" => Describe(new JsonObject(), "The step's input: any value, with bindings."),
                "output" => Describe(Ref("shape"), "The shape of the agent's result (docs/types.md)."),
                _ => throw Unknown("step", key),
            }),
        };
    }

    private static JsonObject Properties(IReadOnlyList<string> keys, Func<string, JsonNode> property)
    {
        var properties = new JsonObject();
        foreach (var key in keys) properties[key] = property(key);
        return properties;
    }

    private static JsonObject Ref(string definition) => new() { ["$ref"] = "#/$defs/" + definition };

    private static JsonObject Required(string key) => new() { ["required"] = Strings(key) };

    private static JsonObject Integer(int minimum, int maximum) => new() { ["type"] = "integer", ["minimum"] = minimum, ["maximum"] = maximum };

    private static JsonObject Scalar() => new() { ["type"] = new JsonArray("string", "number", "integer", "boolean") };

    private static JsonObject Describe(JsonObject node, string description)
    {
        node["description"] = description;
        return node;
    }

    private static JsonArray Strings(params string[] values)
    {
        var array = new JsonArray();
        foreach (var value in values) array.Add(value);
        return array;
    }

    private static InvalidOperationException Unknown(string section, string key) =>
        new($"The model accepts the key '{key}' in {section}, but the JSON Schema generator does not describe it; add it to EnsembleJsonSchema.");
}
