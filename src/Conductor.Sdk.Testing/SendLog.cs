using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Events;

namespace Conductor.Sdk.Testing;

/// <summary>
/// The sends of one channel, in the order they were made, with waits that deliver what is due and fail with a message
/// listing what was sent instead.
/// </summary>
/// <typeparam name="T">The captured send: <see cref="CapturedWebhook"/>, <see cref="CapturedEmail"/>, ...</typeparam>
public class SendLog<T>
    where T : CapturedSend
{
    private readonly List<T> _sends = new();

    internal SendLog(ConductorTestKit kit, string channel)
    {
        Kit = kit;
        Channel = channel;
    }

    private protected ConductorTestKit Kit { get; }

    /// <summary>The channel: webhook, email, sms or push.</summary>
    public string Channel { get; }

    /// <summary>Every send so far, oldest first (reading it does not mark them observed).</summary>
    public IReadOnlyList<T> Sent
    {
        get
        {
            lock (_sends) return _sends.ToArray();
        }
    }

    /// <summary>The sends that match, oldest first; they count as observed.</summary>
    public IReadOnlyList<T> Where(Func<T, bool> match)
    {
        ArgumentNullException.ThrowIfNull(match);
        var found = Sent.Where(match).ToArray();
        foreach (var send in found) send.Observed = true;
        return found;
    }

    /// <summary>The sends of one ensemble (and event, when given), oldest first; they count as observed.</summary>
    public IReadOnlyList<T> Of(string ensemble, string? @event = null) => Where(Matches(ensemble, @event));

    /// <summary>The one send that matches; fails listing every send when there is none or more than one.</summary>
    public T Single(Func<T, bool> match, string? description = null)
    {
        var found = Where(match);
        if (found.Count == 1) return found[0];
        throw new ConductorTestKitException(Kit.Describe($"expected exactly one {Channel} send{(description is null ? string.Empty : " " + description)}, found {found.Count}"));
    }

    /// <summary>
    /// Delivers what is due and waits until a send matches <paramref name="match"/>; after <paramref name="timeout"/>
    /// (wall-clock patience, <see cref="ConductorTestKitOptions.WaitTimeout"/> by default) it fails with a message
    /// listing what was sent instead and what is still pending.
    /// </summary>
    public async Task<T> WaitForAsync(Func<T, bool> match, string? description = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        (await WaitForAsync(1, match, description, timeout, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>Delivers what is due and waits for a send of <paramref name="ensemble"/>'s <paramref name="event"/>.</summary>
    public Task<T> WaitForAsync(string ensemble, string @event, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        WaitForAsync(Matches(ensemble, @event), $"of {@event} of '{ensemble}'", timeout, cancellationToken);

    /// <summary>Delivers what is due and waits until <paramref name="count"/> sends match (all of this channel when <paramref name="match"/> is null).</summary>
    public Task<IReadOnlyList<T>> WaitForAsync(int count, Func<T, bool>? match = null, string? description = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return Kit.WaitAsync(this, match ?? (_ => true), count, $"{count} {Channel} send{(count == 1 ? string.Empty : "s")}{(description is null ? string.Empty : " " + description)}", timeout, cancellationToken);
    }

    internal void Add(T send)
    {
        lock (_sends) _sends.Add(send);
    }

    internal void Clear()
    {
        lock (_sends) _sends.Clear();
    }

    private protected static Func<T, bool> Matches(string ensemble, string? @event)
    {
        ArgumentException.ThrowIfNullOrEmpty(ensemble);
        return send => send.Ensemble == ensemble && (@event is null || send.Event == @event);
    }
}

/// <summary>The webhooks sent, the replies the kit's receiver gives, and typed reads of <c>data.output</c>.</summary>
public sealed class WebhookLog : SendLog<CapturedWebhook>
{
    private readonly List<(Uri Key, Queue<WebhookReply> Replies, WebhookReply? Always)> _scripts = new();

    internal WebhookLog(ConductorTestKit kit) : base(kit, "webhook")
    {
    }

    /// <summary>The reply when no script says otherwise: 200 OK.</summary>
    public WebhookReply DefaultReply { get; set; } = WebhookReply.Ok;

    /// <summary>
    /// Scripts the receiver at <paramref name="url"/> (a full URL, or scheme://host[:port] for every path of that
    /// endpoint): its next attempts get <paramref name="replies"/> in order, then <see cref="DefaultReply"/>.
    /// For example <c>Reply(url, 500, 500, 200)</c>, or <c>Reply(url, WebhookReply.TooManyRequests(TimeSpan.FromSeconds(30)))</c>.
    /// </summary>
    public WebhookLog Reply(string url, params WebhookReply[] replies)
    {
        ArgumentNullException.ThrowIfNull(replies);
        lock (_scripts) _scripts.Add((Key(url), new Queue<WebhookReply>(replies), null));
        return this;
    }

    /// <summary>Makes the receiver at <paramref name="url"/> give <paramref name="reply"/> to every attempt (a receiver that is gone, or down).</summary>
    public WebhookLog ReplyAlways(string url, WebhookReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        lock (_scripts) _scripts.Add((Key(url), new Queue<WebhookReply>(), reply));
        return this;
    }

    /// <summary>
    /// The webhooks of the ensemble whose generated <c>Output</c> is <typeparamref name="TOutput"/>, for
    /// <paramref name="event"/> (execution.completed by default), with <c>data.output</c> read as that type.
    /// </summary>
    public IReadOnlyList<CapturedWebhook<TOutput>> Of<TOutput>(string @event = EventNames.ExecutionCompleted)
        where TOutput : class, IEnsembleData<TOutput> =>
        Of(EnsembleOf<TOutput>(), @event).Select(w => new CapturedWebhook<TOutput>(w)).ToArray();

    /// <summary>
    /// Delivers what is due and waits for a webhook of the ensemble whose <c>Output</c> is <typeparamref name="TOutput"/>
    /// (execution.completed by default), returning it with <c>data.output</c> typed.
    /// </summary>
    public async Task<CapturedWebhook<TOutput>> WaitForAsync<TOutput>(string @event = EventNames.ExecutionCompleted, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        where TOutput : class, IEnsembleData<TOutput> =>
        new(await WaitForAsync(EnsembleOf<TOutput>(), @event, timeout, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// The ensemble a generated <c>Output</c> type belongs to: the <c>Name</c> constant of the ensemble class it is
    /// nested in. (Read here rather than declared on every generated type: a marker interface with a static member cost
    /// the consumer's build about 35 ms per ensemble.)
    /// </summary>
    private static string EnsembleOf<TOutput>()
    {
        var type = typeof(TOutput);
        if (type.Name == "Output"
            && type.DeclaringType?.GetField("Name", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static) is { IsLiteral: true } field
            && field.GetRawConstantValue() is string name)
        {
            return name;
        }

        throw new ArgumentException(
            $"{type.FullName} is not the Output type generated for an ensemble; pass one such as OrderFulfilmentEnsemble.Output (an agent's output type is read from agent.completed with Where and Output<T>())",
            nameof(TOutput));
    }

    /// <summary>The webhooks posted to <paramref name="url"/> (full URL, or scheme://host[:port]); they count as observed.</summary>
    public IReadOnlyList<CapturedWebhook> To(string url)
    {
        var key = Key(url);
        return Where(w => Covers(key, w.Url));
    }

    internal WebhookReply NextReply(Uri url)
    {
        lock (_scripts)
        {
            // The most specific script wins (a URL over its endpoint), the latest among equals.
            for (var pass = 0; pass < 2; pass++)
            {
                for (var i = _scripts.Count - 1; i >= 0; i--)
                {
                    var (key, replies, always) = _scripts[i];
                    var exact = key.AbsolutePath != "/";
                    if (exact != (pass == 0) || !Covers(key, url)) continue;
                    if (replies.Count > 0) return replies.Dequeue();
                    if (always is not null) return always;
                }
            }
        }

        return DefaultReply;
    }

    internal void ClearScripts()
    {
        lock (_scripts) _scripts.Clear();
    }

    private static Uri Key(string url)
    {
        ArgumentException.ThrowIfNullOrEmpty(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"'{url}' is not an absolute http(s) URL", nameof(url));
        }

        return uri;
    }

    private static bool Covers(Uri key, Uri url) =>
        string.Equals(key.Scheme, url.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(key.IdnHost, url.IdnHost, StringComparison.OrdinalIgnoreCase)
        && key.Port == url.Port
        && (key.AbsolutePath == "/" || string.Equals(key.AbsolutePath.TrimEnd('/'), url.AbsolutePath.TrimEnd('/'), StringComparison.Ordinal));
}
