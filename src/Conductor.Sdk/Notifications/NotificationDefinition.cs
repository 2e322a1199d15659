using Conductor.Sdk.Webhooks;

namespace Conductor.Sdk.Notifications;

/// <summary>
/// One notification of an ensemble as the runtime sees it: which events it wants and on which
/// channel. The source generator builds these from the YAML; they can also be built by hand.
/// </summary>
public abstract record NotificationDefinition
{
    /// <summary>Creates a definition.</summary>
    /// <param name="ensemble">The ensemble's name.</param>
    /// <param name="index">Zero-based position in the ensemble's <c>notifications:</c>.</param>
    /// <param name="events">The subscribed event names.</param>
    protected NotificationDefinition(string ensemble, int index, IEnumerable<string> events)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ensemble);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentNullException.ThrowIfNull(events);
        Ensemble = ensemble;
        Index = index;
        Events = new HashSet<string>(events, StringComparer.Ordinal);
        Key = $"{ensemble}#{index}";
        if (Events.Count == 0)
        {
            throw new ArgumentException($"Ensemble '{ensemble}', notification #{index + 1}: a notification needs at least one event.", nameof(events));
        }
    }

    /// <summary>Creates a definition with its own key and description (flow operation steps).</summary>
    /// <param name="ensemble">The ensemble's name.</param>
    /// <param name="index">Zero-based position of the item in its list.</param>
    /// <param name="events">The event names it is stored under.</param>
    /// <param name="key">The stable key stored with each delivery.</param>
    /// <param name="description">How errors and logs name it.</param>
    protected NotificationDefinition(string ensemble, int index, IEnumerable<string> events, string key, string description)
        : this(ensemble, index, events)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        Key = key;
        _description = description;
    }

    private readonly string? _description;

    /// <summary>The ensemble's name.</summary>
    public string Ensemble { get; }

    /// <summary>Zero-based position in <c>notifications:</c>.</summary>
    public int Index { get; }

    /// <summary>The subscribed event names.</summary>
    public IReadOnlySet<string> Events { get; }

    /// <summary>
    /// The most attempts per period the worker makes to this notification's endpoint (YAML <c>rate-limit:</c>, webhooks),
    /// or null for none. Several limits on one endpoint: the smallest rate applies. Enforced per process.
    /// </summary>
    public Delivery.RateLimit? RateLimit { get; init; }

    /// <summary>The channel that delivers it: <c>webhook</c>, <c>email</c>, <c>sms</c> or <c>push</c>.</summary>
    public abstract string Channel { get; }

    /// <summary>A stable key, <c>{ensemble}#{index}</c>, stored with each delivery.</summary>
    public string Key { get; }

    /// <summary>How long one attempt may take before it counts as a timeout.</summary>
    public virtual TimeSpan AttemptTimeout => TimeSpan.FromSeconds(30);

    /// <summary>Retries after the first attempt (0..5).</summary>
    public abstract int Retries { get; }

    /// <summary>
    /// How many deliveries one event makes: one per recipient when the channel sends to each separately (SMS), so that
    /// a retry after a partial failure never sends again to a recipient who already got the message.
    /// </summary>
    public virtual int Recipients => 1;

    /// <summary>The stored key of the delivery for recipient <paramref name="recipient"/> of <paramref name="recipients"/> (<c>{key}@{n}</c> when there are several).</summary>
    public string DeliveryKey(int recipient, int recipients) => recipients == 1 ? Key : Key + "@" + recipient.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Splits a stored key into the notification's key and the recipient index (null: every recipient).</summary>
    public static (string Key, int? Recipient) ParseDeliveryKey(string deliveryKey)
    {
        ArgumentNullException.ThrowIfNull(deliveryKey);
        var at = deliveryKey.LastIndexOf('@');
        return at > 0 && int.TryParse(deliveryKey.AsSpan(at + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var recipient)
            ? (deliveryKey[..at], recipient)
            : (deliveryKey, null);
    }

    /// <summary>"ensemble 'x', webhook notification #2": how errors and logs name it.</summary>
    public string Describe() => _description ?? $"ensemble '{Ensemble}', {Channel} notification #{Index + 1}";
}

/// <summary>A <c>type: webhook</c> notification.</summary>
public sealed record WebhookNotificationDefinition : NotificationDefinition
{
    /// <summary>Creates a webhook definition and checks its values.</summary>
    /// <exception cref="ArgumentException">A value is invalid; the message names the ensemble, the notification and the field.</exception>
    public WebhookNotificationDefinition(
        string ensemble,
        int index,
        IEnumerable<string> events,
        Uri url,
        IReadOnlyList<string>? secrets = null,
        int retries = 3,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? headers = null,
        WebhookSignatureFormat format = WebhookSignatureFormat.Conductor)
        : base(ensemble, index, events)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"{Describe()}: field 'url' must be an absolute http or https address, not '{url}'.", nameof(url));
        }

        if (retries is < 0 or > 5)
        {
            throw new ArgumentOutOfRangeException(nameof(retries), retries, $"{Describe()}: field 'retries' must be between 0 and 5.");
        }

        var attemptTimeout = timeout ?? TimeSpan.FromMilliseconds(5000);
        if (attemptTimeout < TimeSpan.FromMilliseconds(100) || attemptTimeout > TimeSpan.FromMilliseconds(60000))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), attemptTimeout, $"{Describe()}: field 'timeout' must be between 100 and 60000 ms.");
        }

        var secretList = (secrets ?? Array.Empty<string>()).Where(s => !string.IsNullOrEmpty(s)).ToArray();
        if (format == WebhookSignatureFormat.StandardWebhooks)
        {
            foreach (var secret in secretList)
            {
                try
                {
                    WebhookSigner.StandardWebhooksKey(secret);
                }
                catch (FormatException)
                {
                    throw new ArgumentException($"{Describe()}: field 'secret' must be a Standard Webhooks secret ('whsec_' followed by base64) for format standard-webhooks; the configured value is not (it is not shown).", nameof(secrets));
                }
            }
        }

        foreach (var name in (headers ?? new Dictionary<string, string>()).Keys)
        {
            if (name.StartsWith("X-Conductor-", StringComparison.OrdinalIgnoreCase) || name.StartsWith("webhook-", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"{Describe()}: header '{name}' in field 'headers' is set by Conductor and cannot be overridden.", nameof(headers));
            }
        }

        Url = url;
        Endpoint = $"{url.Scheme}://{url.Authority}";
        Secrets = secretList;
        SigningKeys = format == WebhookSignatureFormat.StandardWebhooks
            ? secretList.Select(WebhookSigner.StandardWebhooksKey).ToArray()
            : secretList.Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
        Retries = retries;
        Timeout = attemptTimeout;
        Headers = headers ?? new Dictionary<string, string>();
        Format = format;
    }

    /// <inheritdoc />
    public override string Channel => "webhook";

    /// <summary>Where to POST.</summary>
    public Uri Url { get; }

    /// <summary>
    /// Signing secrets. The first signs; while a secret is rotated, list the new and the old one and every
    /// attempt carries one signature per secret. Empty means unsigned.
    /// </summary>
    public IReadOnlyList<string> Secrets { get; }

    /// <summary>The secrets as HMAC keys, decoded once.</summary>
    internal IReadOnlyList<byte[]> SigningKeys { get; }

    /// <inheritdoc />
    public override int Retries { get; }

    /// <summary>The per-attempt timeout.</summary>
    public TimeSpan Timeout { get; }

    /// <inheritdoc />
    public override TimeSpan AttemptTimeout => Timeout;

    /// <summary>Extra headers sent with every attempt.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The signature format.</summary>
    public WebhookSignatureFormat Format { get; }

    /// <summary>The isolation key: scheme, host and port. Deliveries to one endpoint share its limits and breaker.</summary>
    public string Endpoint { get; }

    /// <summary>Never prints secrets.</summary>
    public override string ToString() => $"{Describe()} → {Url} ({(Secrets.Count == 0 ? "unsigned" : "signed")}, {Format})";
}
