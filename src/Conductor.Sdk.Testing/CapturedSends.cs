using System.Text;
using System.Text.Json;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Push;
using Conductor.Sdk.Webhooks;

namespace Conductor.Sdk.Testing;

/// <summary>
/// One send the kit captured instead of putting it on the network: which ensemble, event and delivery it belongs to,
/// the attempt number and the (fake) time of the attempt.
/// </summary>
public abstract class CapturedSend
{
    private protected CapturedSend(string channel, string ensemble, string @event, string deliveryId, int attempt, DateTimeOffset at)
    {
        Channel = channel;
        Ensemble = ensemble;
        Event = @event;
        DeliveryId = deliveryId;
        Attempt = attempt;
        At = at;
    }

    /// <summary><c>webhook</c>, <c>email</c>, <c>sms</c> or <c>push</c>.</summary>
    public string Channel { get; }

    /// <summary>The ensemble whose notification this is (for an operational event, the ensemble that subscribed to it).</summary>
    public string Ensemble { get; }

    /// <summary>The event: <c>execution.completed</c>, <c>agent.completed</c>, <c>endpoint.disabled</c>, ...</summary>
    public string Event { get; }

    /// <summary>The delivery (<c>dlv_…</c>): the same for every attempt of it.</summary>
    public string DeliveryId { get; }

    /// <summary>The attempt number, 1 for the first.</summary>
    public int Attempt { get; }

    /// <summary>When the attempt was made, on the kit's clock.</summary>
    public DateTimeOffset At { get; }

    /// <summary>Where it went: the URL, the recipients, the number or the push target.</summary>
    public abstract string Destination { get; }

    /// <summary>True once a wait or a query that selects sends returned it; <see cref="ConductorTestKit.AssertNothingElseSent"/> lists the others.</summary>
    public bool Observed { get; internal set; }

    /// <summary>One line for failure messages.</summary>
    public override string ToString() => $"{Channel} {Event} of '{Ensemble}' to {Destination} ({DeliveryId}, attempt {Attempt}, at {At:HH:mm:ss.fff})";
}

/// <summary>A webhook request as the receiver would have seen it, and the reply it was given.</summary>
public sealed class CapturedWebhook : CapturedSend
{
    internal CapturedWebhook(string ensemble, string @event, string deliveryId, int attempt, DateTimeOffset at,
        Uri url, IReadOnlyDictionary<string, string> headers, byte[] body, WebhookReply reply)
        : base("webhook", ensemble, @event, deliveryId, attempt, at)
    {
        Url = url;
        Headers = headers;
        BodyBytes = body;
        Reply = reply;
    }

    /// <summary>The URL it was posted to.</summary>
    public Uri Url { get; }

    /// <summary>Every request header (names case-insensitive): <c>X-Conductor-Signature</c>, <c>webhook-id</c>, <c>traceparent</c>, ...</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The raw body, byte for byte as signed.</summary>
    public byte[] BodyBytes { get; }

    /// <summary>The body as text.</summary>
    public string Body => Encoding.UTF8.GetString(BodyBytes);

    /// <summary>The reply the kit's receiver gave (200 unless a script said otherwise).</summary>
    public WebhookReply Reply { get; }

    /// <inheritdoc />
    public override string Destination => Url.ToString();

    /// <summary>The event's <c>data</c> object.</summary>
    public JsonElement Data
    {
        get
        {
            using var document = JsonDocument.Parse(BodyBytes);
            return document.RootElement.GetProperty("data").Clone();
        }
    }

    /// <summary>
    /// <c>data.output</c> read as the ensemble's generated <c>Output</c> type, every declared field checked; throws
    /// <see cref="EnsembleDataException"/> naming the field when the body does not match.
    /// </summary>
    public TOutput Output<TOutput>() where TOutput : class, IEnsembleData<TOutput>
    {
        if (!Data.TryGetProperty("output", out var output))
        {
            throw new ConductorTestKitException($"the {Event} webhook of '{Ensemble}' ({DeliveryId}) has no data.output (only execution.completed and agent.completed carry one)");
        }

        return TOutput.ReadJson(output, new DataLocation(Ensemble, Event + " data.output"));
    }

    /// <summary>
    /// Verifies the signature with the real receiver-side verifier (<see cref="WebhookSignature"/>), in whichever format
    /// was sent, against the kit's clock.
    /// </summary>
    public WebhookVerificationResult VerifySignature(params string[] secrets) => VerifySignature(At, secrets);

    /// <summary>Verifies the signature as a receiver whose clock reads <paramref name="now"/> would.</summary>
    public WebhookVerificationResult VerifySignature(DateTimeOffset now, params string[] secrets) =>
        Headers.TryGetValue("webhook-id", out var id)
            ? WebhookSignature.VerifyStandardWebhooks(BodyBytes, id, Header("webhook-timestamp"), Header("webhook-signature"), secrets, now)
            : WebhookSignature.Verify(BodyBytes, Header("X-Conductor-Signature"), Header("X-Conductor-Timestamp"), secrets, now);

    /// <summary>A header's value, or null.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    /// <inheritdoc />
    public override string ToString() => base.ToString() + $" -> {Reply}";
}

/// <summary>A webhook of an ensemble with a typed output: the request and its <c>data.output</c> as the generated type.</summary>
public sealed class CapturedWebhook<TOutput>
    where TOutput : class, IEnsembleData<TOutput>
{
    internal CapturedWebhook(CapturedWebhook request)
    {
        Request = request;
        Output = request.Output<TOutput>();
    }

    /// <summary>The request itself (headers, body, signature, reply).</summary>
    public CapturedWebhook Request { get; }

    /// <summary><c>data.output</c> as the ensemble's <c>Output</c>.</summary>
    public TOutput Output { get; }

    /// <inheritdoc />
    public override string ToString() => Request.ToString();
}

/// <summary>A message as rendered for a provider (email, SMS, push), and the provider name the notification used.</summary>
/// <typeparam name="TMessage">The channel's message type.</typeparam>
public abstract class CapturedMessage<TMessage> : CapturedSend
    where TMessage : class
{
    private protected CapturedMessage(string channel, string ensemble, string @event, string deliveryId, int attempt, DateTimeOffset at, string provider, TMessage message)
        : base(channel, ensemble, @event, deliveryId, attempt, at)
    {
        Provider = provider;
        Message = message;
    }

    /// <summary>The provider the notification named (smtp, resend, twilio, firebase, ...).</summary>
    public string Provider { get; }

    /// <summary>The message as the provider would have received it.</summary>
    public TMessage Message { get; }
}

/// <summary>An email as rendered for the provider.</summary>
public sealed class CapturedEmail : CapturedMessage<Email.EmailMessage>
{
    internal CapturedEmail(string ensemble, string @event, string deliveryId, int attempt, DateTimeOffset at, string provider, Email.EmailMessage message)
        : base("email", ensemble, @event, deliveryId, attempt, at, provider, message)
    {
    }

    /// <summary>The sender.</summary>
    public string From => Message.From;

    /// <summary>The recipients.</summary>
    public IReadOnlyList<string> To => Message.To;

    /// <summary>Copy recipients.</summary>
    public IReadOnlyList<string> Cc => Message.Cc;

    /// <summary>Blind copy recipients.</summary>
    public IReadOnlyList<string> Bcc => Message.Bcc;

    /// <summary>The rendered subject.</summary>
    public string Subject => Message.Subject;

    /// <summary>The plain-text body.</summary>
    public string Text => Message.Text;

    /// <summary>The HTML body.</summary>
    public string Html => Message.Html;

    /// <inheritdoc />
    public override string Destination => string.Join(", ", Message.To);

    /// <inheritdoc />
    public override string ToString() => base.ToString() + $" subject '{Subject}'";
}

/// <summary>An SMS as rendered for the provider.</summary>
public sealed class CapturedSms : CapturedMessage<Sms.SmsMessage>
{
    internal CapturedSms(string ensemble, string @event, string deliveryId, int attempt, DateTimeOffset at, string provider, Sms.SmsMessage message)
        : base("sms", ensemble, @event, deliveryId, attempt, at, provider, message)
    {
    }

    /// <summary>The recipient (E.164).</summary>
    public string To => Message.To;

    /// <summary>The sender, empty when the provider chooses it.</summary>
    public string From => Message.From;

    /// <summary>The text.</summary>
    public string Body => Message.Body;

    /// <inheritdoc />
    public override string Destination => Message.To;

    /// <inheritdoc />
    public override string ToString() => base.ToString() + $" '{Body}'";
}

/// <summary>A push message as rendered for the provider.</summary>
public sealed class CapturedPush : CapturedMessage<PushMessage>
{
    internal CapturedPush(string ensemble, string @event, string deliveryId, int attempt, DateTimeOffset at, string provider, PushMessage message)
        : base("push", ensemble, @event, deliveryId, attempt, at, provider, message)
    {
    }

    /// <summary>The rendered title, or null.</summary>
    public string? Title => Message.Title;

    /// <summary>The rendered body, or null.</summary>
    public string? Body => Message.Body;

    /// <summary>Custom key/value data for the app.</summary>
    public IReadOnlyDictionary<string, string> Data => Message.Data;

    /// <inheritdoc />
    public override string Destination => $"{Message.Target.Kind} {Message.Target.Value}";

    /// <inheritdoc />
    public override string ToString() => base.ToString() + $" '{Title}'";
}

/// <summary>A test kit expectation that did not hold (a wait that timed out, something else sent). Test frameworks report it as a failure.</summary>
public sealed class ConductorTestKitException(string message) : Exception(message);
