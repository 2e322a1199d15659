using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Email;
using Conductor.Sdk.Events;
using Conductor.Sdk.Model;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Templates;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Webhooks;

namespace Conductor.Cli.Rendering;

/// <summary>
/// <c>conductor render</c>: what each notification subscribed to an event would send. Webhook requests are built by
/// the runtime's own <see cref="WebhookChannel.CreateRequest"/> over the runtime's <see cref="EventPayload"/> bytes,
/// so method, URL, headers, signature and body are exactly those of a first attempt made now.
/// </summary>
internal static class RenderCommand
{
    public static int Run(CliEnvironment env, string file, string eventName, string? dataJson, IReadOnlyList<string> envPairs)
    {
        if (!File.Exists(file)) throw new CliUsageException($"Ensemble file '{file}' does not exist.");
        var result = EnsembleParser.Parse(file, File.ReadAllText(file));
        if (result.HasErrors || result.Ensemble is null)
        {
            foreach (var diagnostic in result.Diagnostics.Where(d => d.Severity == Severity.Error)) env.Error.WriteLine(diagnostic.ToString());
            env.Error.WriteLine($"'{file}' has errors, so the build would generate nothing for it; fix them first (conductor validate {file}).");
            return ExitCodes.Failure;
        }

        var ensemble = result.Ensemble;
        var environment = EnvironmentValues.Parse(envPairs);
        var masker = CreateMasker(ensemble, envPairs);
        var now = env.Time.GetUtcNow();
        var (@event, defaulted) = PreviewEvent.Create(ensemble, eventName, dataJson, now);
        var payload = EventPayload.Serialize(@event);
        var output = new StringBuilder();
        var notes = new List<string>();
        var failed = false;

        output.AppendLine($"ensemble '{ensemble.Name.Value}' ({file}), event {@event.Name} at {EventPayload.FormatTimestamp(@event.Timestamp)}");
        if (defaulted.Count > 0) notes.Add($"--data did not give {string.Join(", ", defaulted)}; preview values are used (see the body).");

        var subscribed = ensemble.Notifications.Where(n => n.Events.Any(e => e.Value == @event.Name)).ToList();
        if (subscribed.Count == 0)
        {
            output.AppendLine($"No notification of ensemble '{ensemble.Name.Value}' subscribes to {@event.Name}; nothing would be sent.");
        }

        // Values the runtime fixes at start-up (webhook URL, headers) see no event; message fields see the event.
        var startup = new TemplateInterpreter(ensemble.Name.Value, null, environment);
        var perEvent = new TemplateInterpreter(ensemble.Name.Value, @event, environment);
        foreach (var notification in subscribed)
        {
            output.AppendLine();
            try
            {
                switch (notification)
                {
                    case WebhookNotification webhook:
                        RenderWebhook(env, output, notes, ensemble, webhook, @event, payload, startup, environment, masker);
                        break;
                    case EmailNotification email:
                        RenderEmail(output, email, @event, payload, perEvent, masker);
                        break;
                    case SmsNotification sms:
                        RenderSms(output, notes, sms, perEvent, masker);
                        break;
                    case PushNotification push:
                        RenderPush(output, push, perEvent, masker);
                        break;
                }
            }
            catch (ArgumentException ex)
            {
                // The runtime would refuse this notification at start-up; its message names the field and never a secret.
                output.AppendLine($"error: {masker.Apply(ex.Message)}");
                failed = true;
            }
        }

        env.Out.Write(output.ToString());
        foreach (var name in environment.Unset)
        {
            notes.Add($"${{env.{name}}} is not set; it is shown as {EnvironmentValues.Placeholder(name)}. Pass --env {name}=VALUE to render it (the application fails at start-up without it).");
        }

        foreach (var note in notes) env.Error.WriteLine("warning: " + note);
        return failed ? ExitCodes.Failure : ExitCodes.Success;
    }

    private static SecretMasker CreateMasker(EnsembleDefinition ensemble, IReadOnlyList<string> envPairs)
    {
        var secretVariables = new HashSet<string>(StringComparer.Ordinal);
        var masker = new SecretMasker();
        foreach (var webhook in ensemble.Notifications.OfType<WebhookNotification>())
        {
            if (webhook.Secret is null) continue;
            if (webhook.Secret.EnvironmentVariable is { } variable) secretVariables.Add(variable);
            else masker.Add(webhook.Secret.LiteralText);
        }

        foreach (var pair in envPairs)
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0) continue;
            var name = pair[..equals];
            if (secretVariables.Contains(name) || SecretMasker.IsSensitiveName(name)) masker.Add(pair[(equals + 1)..]);
        }

        return masker;
    }

    private static void RenderWebhook(
        CliEnvironment env, StringBuilder output, List<string> notes, EnsembleDefinition ensemble, WebhookNotification webhook,
        ConductorEvent @event, byte[] payload, TemplateInterpreter startup, EnvironmentValues environment, SecretMasker masker)
    {
        var format = webhook.Format == WebhookFormat.StandardWebhooks ? WebhookSignatureFormat.StandardWebhooks : WebhookSignatureFormat.Conductor;
        output.AppendLine($"== webhook notification #{webhook.Index + 1} (format {(format == WebhookSignatureFormat.StandardWebhooks ? "standard-webhooks" : "conductor")}, retries {webhook.Retries}, timeout {webhook.TimeoutMilliseconds} ms) ==");

        // As the generated code does: only a secret bound to ${env.NAME} signs; a literal one is never used.
        string[]? secrets = null;
        if (webhook.Secret is null)
        {
            output.AppendLine("secret: (none; the request is unsigned)");
        }
        else if (webhook.Secret.EnvironmentVariable is not { } variable)
        {
            output.AppendLine($"secret: {SecretMasker.Mask} (written in the YAML, which the runtime never uses; the request is unsigned — bind it with ${{env.NAME}})");
        }
        else if (!environment.Has(variable))
        {
            environment.Get(variable);
            output.AppendLine($"secret: {EnvironmentValues.Placeholder(variable)} (from ${{env.{variable}}}; the request is shown unsigned)");
        }
        else
        {
            secrets = new[] { environment.Get(variable) };
            output.AppendLine($"secret: {SecretMasker.Mask} (from ${{env.{variable}}})");
        }

        var url = startup.Render(webhook.Url);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var header in webhook.Headers) headers[header.Key.Value] = startup.Render(header.Value);

        // A URL holding an unset placeholder is no URI; the request is then built for a stand-in and shown with the text.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            if (environment.Unset.Count == 0 || !url.Contains("<unset:", StringComparison.Ordinal))
            {
                throw new ArgumentException($"ensemble '{ensemble.Name.Value}', webhook notification #{webhook.Index + 1}: field 'url' renders to '{masker.ApplyToUrl(url)}', which is not an absolute URL.");
            }

            uri = new Uri("https://unset.invalid/");
        }

        var definition = new WebhookNotificationDefinition(
            ensemble.Name.Value, webhook.Index, webhook.Events.Select(e => e.Value), uri, secrets, webhook.Retries,
            TimeSpan.FromMilliseconds(webhook.TimeoutMilliseconds), headers, format);
        var delivery = new DeliveryRecord(
            DeliveryRecord.NewId(env.Time), ensemble.Name.Value, @event.Name, definition.Key, definition.Channel, definition.Endpoint,
            payload, env.Time.GetUtcNow(), env.Time.GetUtcNow(), DeliveryStatus.Pending, 0, definition.Retries + 1);
        using var request = new WebhookChannel(NoHttpClients.Instance, env.Time).CreateRequest(new DeliveryAttempt(delivery, definition, 1));

        output.AppendLine($"{request.Method} {masker.ApplyToUrl(url)}");
        foreach (var header in request.Headers.NonValidated) output.AppendLine(Header(header.Key, header.Value.ToString(), masker));
        if (request.Content is not null)
        {
            foreach (var header in request.Content.Headers.NonValidated) output.AppendLine(Header(header.Key, header.Value.ToString(), masker));
        }

        output.AppendLine();
        var body = Encoding.UTF8.GetString(payload);
        var maskedBody = masker.Apply(body);
        if (!string.Equals(body, maskedBody, StringComparison.Ordinal)) notes.Add($"webhook notification #{webhook.Index + 1}: the body contains a secret value, masked above; the bytes sent differ from the ones shown.");
        output.AppendLine(maskedBody);
    }

    private static string Header(string name, string value, SecretMasker masker)
    {
        // A signature is a MAC of the body: it reveals nothing of the secret, and is what a receiver is debugged with.
        if (name.Equals("X-Conductor-Signature", StringComparison.OrdinalIgnoreCase) || name.Equals("webhook-signature", StringComparison.OrdinalIgnoreCase))
        {
            return $"{name}: {value}";
        }

        if (SecretMasker.IsSensitiveName(name) && !name.StartsWith("X-Conductor-", StringComparison.OrdinalIgnoreCase)) return $"{name}: {SecretMasker.Mask}";
        return $"{name}: {masker.Apply(value)}";
    }

    private static void RenderEmail(StringBuilder output, EmailNotification email, ConductorEvent @event, byte[] payload, TemplateInterpreter context, SecretMasker masker)
    {
        output.AppendLine($"== email notification #{email.Index + 1} ==");
        output.AppendLine($"provider: {email.Provider?.Value ?? "(the default provider from configuration)"}");
        var to = email.To.Select(t => EmailMessage.SingleLine(context.Render(t))).Where(t => t.Length > 0).ToList();
        var from = email.From is { } f ? EmailMessage.SingleLine(context.Render(f)) : "(the default sender from configuration)";
        var message = EmailMessage.Create(from, to, context.Render(email.Subject), @event, payload);
        output.AppendLine($"from: {masker.Apply(message.From)}");
        output.AppendLine($"to: {masker.Apply(string.Join(", ", message.To))}");
        output.AppendLine($"subject: {masker.Apply(message.Subject)}");
        output.AppendLine($"text part:");
        output.AppendLine(masker.Apply(message.Text));
        output.AppendLine($"html part: {message.Html.Length} characters, colour-coded {EmailMessage.ColourOf(@event.Name)}");
    }

    private static void RenderSms(StringBuilder output, List<string> notes, SmsNotification sms, TemplateInterpreter context, SecretMasker masker)
    {
        output.AppendLine($"== sms notification #{sms.Index + 1} ==");
        output.AppendLine($"provider: {sms.Provider?.Value ?? "(the default provider from configuration)"}");
        var body = context.Render(sms.Body);
        output.AppendLine($"from: {(sms.From is { } f ? masker.Apply(context.Render(f)) : "(the default sender from configuration)")}");
        output.AppendLine($"to: {masker.Apply(string.Join(", ", sms.To.Select(t => context.Render(t).Trim())))}");
        output.AppendLine($"body ({body.Length} characters): {masker.Apply(body)}");
        if (body.Length is 0 or > SmsNotification.MaxBodyLength)
        {
            notes.Add($"sms notification #{sms.Index + 1}: the body has {body.Length} characters; providers accept 1 to {SmsNotification.MaxBodyLength}, so the runtime would dead-letter it.");
        }
    }

    private static void RenderPush(StringBuilder output, PushNotification push, TemplateInterpreter context, SecretMasker masker)
    {
        output.AppendLine($"== push notification #{push.Index + 1} ==");
        output.AppendLine($"provider: {push.Provider.Value}");
        foreach (var (name, template) in new[] { ("token", push.Token), ("topic", push.Topic), ("condition", push.Condition), ("deviceToken", push.DeviceToken), ("subscription", push.Subscription) })
        {
            if (template is not null) output.AppendLine($"{name}: {masker.Apply(context.Render(template).Trim())}");
        }

        void Optional(string name, Template? template)
        {
            if (template is not null) output.AppendLine($"{name}: {masker.Apply(context.Render(template))}");
        }

        Optional("title", push.Title);
        Optional("body", push.Body);
        Optional("image", push.Image);
        foreach (var entry in push.Data) output.AppendLine($"data.{entry.Key.Value}: {masker.Apply(context.Render(entry.Value))}");
        foreach (var action in push.Actions) output.AppendLine($"action: {masker.Apply(context.Render(action.Id))} \"{masker.Apply(context.Render(action.Title))}\"");
    }

    /// <summary>The channel only builds requests here; nothing is ever sent.</summary>
    private sealed class NoHttpClients : IHttpClientFactory
    {
        public static readonly NoHttpClients Instance = new();

        public HttpClient CreateClient(string name) => throw new InvalidOperationException("conductor render never sends requests.");
    }
}
