using System.Collections.Generic;

namespace Conductor.Sdk.Model.Validation
{
    /// <summary>The keys and words the ensemble schema accepts (DESIGN.md section 3).</summary>
    public static class Schema
    {
        /// <summary>Top-level keys.</summary>
        public static readonly IReadOnlyList<string> RootKeys = new[] { "name", "description", "timeout", "input", "notifications", "flow", "outputs" };

        /// <summary>Notification types.</summary>
        public static readonly IReadOnlyList<string> NotificationTypes = new[] { "webhook", "email", "sms", "push" };

        /// <summary>Keys of a webhook notification.</summary>
        public static readonly IReadOnlyList<string> WebhookKeys = new[] { "type", "url", "events", "secret", "retries", "timeout", "headers", "format", "rate-limit" };

        /// <summary>Keys of an email notification.</summary>
        public static readonly IReadOnlyList<string> EmailKeys = new[] { "type", "to", "from", "subject", "provider", "events" };

        /// <summary>Keys of an SMS notification.</summary>
        public static readonly IReadOnlyList<string> SmsKeys = new[] { "type", "provider", "to", "from", "body", "events" };

        /// <summary>Keys of a push notification (targets depend on the provider).</summary>
        public static readonly IReadOnlyList<string> PushKeys = new[] { "type", "provider", "token", "topic", "condition", "deviceToken", "subscription", "title", "body", "image", "data", "actions", "events" };

        /// <summary>Keys of a push action.</summary>
        public static readonly IReadOnlyList<string> PushActionKeys = new[] { "id", "title" };

        /// <summary>Keys of a flow step.</summary>
        public static readonly IReadOnlyList<string> StepKeys = new[] { "agent", "name", "operation", "condition", "config", "input", "output" };

        /// <summary>The type names of the declaration syntax (docs/types.md).</summary>
        public static readonly IReadOnlyList<string> TypeNames = new[] { "string", "int", "long", "number", "decimal", "bool", "datetime", "json" };

        /// <summary>Webhook formats.</summary>
        public static readonly IReadOnlyList<string> WebhookFormats = new[] { "conductor", "standard-webhooks" };

        /// <summary>Email providers (from <see cref="ProviderCatalog"/>).</summary>
        public static readonly IReadOnlyList<string> EmailProviders = ProviderCatalog.Names("email");

        /// <summary>SMS providers (from <see cref="ProviderCatalog"/>).</summary>
        public static readonly IReadOnlyList<string> SmsProviders = ProviderCatalog.Names("sms");

        /// <summary>Push providers (from <see cref="ProviderCatalog"/>).</summary>
        public static readonly IReadOnlyList<string> PushProviders = ProviderCatalog.Names("push");

        /// <summary>Flow operations.</summary>
        public static readonly IReadOnlyList<string> Operations = new[] { "sms", "email" };

        /// <summary>Config keys of an <c>operation: sms</c> step.</summary>
        public static readonly IReadOnlyList<string> SmsOperationKeys = new[] { "provider", "accountSid", "authToken", "messagingServiceSid", "accessKeyId", "secretAccessKey", "sessionToken", "region", "smsType", "senderId", "from", "to", "body" };

        /// <summary>Operation config keys that hold credentials: only <c>${env.NAME}</c> is accepted (CND0006 otherwise).</summary>
        public static readonly IReadOnlyList<string> SecretOperationKeys = new[] { "authToken", "secretAccessKey", "sessionToken" };

        /// <summary>Config keys of an <c>operation: email</c> step.</summary>
        public static readonly IReadOnlyList<string> EmailOperationKeys = new[] { "provider", "from", "to", "cc", "bcc", "replyTo", "subject", "text", "html" };

        /// <summary>Push targets each provider accepts.</summary>
        public static IReadOnlyList<string> PushTargets(string provider) => ProviderCatalog.Find("push", provider)?.Targets ?? new string[0];

        /// <summary>Every key that names a push target, for any provider (from <see cref="ProviderCatalog"/>).</summary>
        public static readonly IReadOnlyList<string> PushTargetKeys = ProviderCatalog.TargetKeys("push");

        /// <summary>Bounds of numeric settings.</summary>
        public static class Limits
        {
            /// <summary>Retries after the first attempt: 0..5 (the schedule has five steps).</summary>
            public const int MinRetries = 0, MaxRetries = 5;

            /// <summary>Webhook per-attempt timeout in milliseconds.</summary>
            public const int MinWebhookTimeout = 100, MaxWebhookTimeout = 60000;

            /// <summary>The count of a webhook's <c>rate-limit:</c> (per second, minute or hour).</summary>
            public const int MinRatePermits = 1, MaxRatePermits = 10000;

            /// <summary>The form of <c>rate-limit:</c>, for the JSON Schema.</summary>
            public const string RateLimitPattern = @"^\s*([1-9][0-9]{0,3}|10000)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$";

            /// <summary>Ensemble execution timeout in milliseconds (up to a day).</summary>
            public const int MinEnsembleTimeout = 1, MaxEnsembleTimeout = 86_400_000;
        }
    }
}
