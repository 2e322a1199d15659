using System;
using System.Collections.Generic;

namespace Conductor.Sdk.Model.Validation
{
    /// <summary>
    /// Every channel provider a notification can name, in one place: the generator checks <c>provider:</c> against it
    /// (an unknown name is a build error) and the runtime, which compiles this same file, says how to register a
    /// provider that a notification names but the app did not add. Adding a provider is a folder under the channel's
    /// Providers folder (the provider, its options and its <c>Add…</c> method) and one line here (ARCHITECTURE.md).
    /// </summary>
    internal static class ProviderCatalog
    {
        /// <summary>
        /// A provider: its channel, its <c>provider:</c> name, how an app registers it and, for push, the YAML keys that
        /// name its targets.
        /// </summary>
        internal sealed class Entry
        {
            public Entry(string channel, string name, string registration, params string[] targets)
            {
                Channel = channel;
                Name = name;
                Registration = registration;
                Targets = targets;
            }

            public string Channel { get; }

            public string Name { get; }

            public string Registration { get; }

            public IReadOnlyList<string> Targets { get; }
        }

        public static readonly IReadOnlyList<Entry> All = new[]
        {
            new Entry("email", "smtp", "AddSmtpEmail(...) from the Conductor.Sdk.Smtp package"),
            new Entry("email", "resend", "AddResendEmail(...)"),
            new Entry("email", "cloudflare", "AddCloudflareEmail(...)"),
            new Entry("email", "file", "the file provider (registered by AddConductor unless removed)"),
            new Entry("sms", "twilio", "AddTwilioSms(...) from the Conductor.Sdk.Twilio package"),
            new Entry("sms", "vonage", "AddVonageSms(...)"),
            new Entry("sms", "aws-sns", "AddAwsSnsSms(...)"),
            new Entry("push", "firebase", "AddFirebasePush(...) from the Conductor.Sdk.Push package", "token", "topic", "condition"),
            new Entry("push", "apns", "AddApnsPush(...) from the Conductor.Sdk.Push package", "deviceToken"),
            new Entry("push", "webpush", "AddWebPush(...) from the Conductor.Sdk.Push package", "subscription"),
        };

        /// <summary>
        /// For a channel that lives in its own package (push), what to add and call; null for channels that
        /// <c>AddConductor</c> registers itself.
        /// </summary>
        public static string? ChannelPackage(string channel) => channel == "push"
            ? "add the Conductor.Sdk.Push package and register a push provider (AddFirebasePush, AddApnsPush or AddWebPush)"
            : null;

        /// <summary>The names of one channel's providers, in catalog order.</summary>
        public static string[] Names(string channel)
        {
            var names = new List<string>();
            foreach (var entry in All)
            {
                if (string.Equals(entry.Channel, channel, StringComparison.Ordinal)) names.Add(entry.Name);
            }

            return names.ToArray();
        }

        /// <summary>How to register a provider, or null when the catalog does not know it.</summary>
        public static string? Registration(string channel, string name) => Find(channel, name)?.Registration;

        /// <summary>A provider's entry, or null when the catalog does not know it.</summary>
        public static Entry? Find(string channel, string name)
        {
            foreach (var entry in All)
            {
                if (string.Equals(entry.Channel, channel, StringComparison.Ordinal) && string.Equals(entry.Name, name, StringComparison.Ordinal)) return entry;
            }

            return null;
        }

        /// <summary>Every target key of one channel's providers, in catalog order, each once.</summary>
        public static string[] TargetKeys(string channel)
        {
            var keys = new List<string>();
            foreach (var entry in All)
            {
                if (!string.Equals(entry.Channel, channel, StringComparison.Ordinal)) continue;
                foreach (var key in entry.Targets)
                {
                    if (!keys.Contains(key)) keys.Add(key);
                }
            }

            return keys.ToArray();
        }
    }
}
