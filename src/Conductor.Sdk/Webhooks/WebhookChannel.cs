using System.Globalization;
using System.Net;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Security;

namespace Conductor.Sdk.Webhooks;

/// <summary>
/// Sends <c>type: webhook</c> notifications: a POST of the stored payload with the Conductor (or Standard
/// Webhooks) headers, signed anew for every attempt with that attempt's timestamp.
/// </summary>
public sealed class WebhookChannel : INotificationChannel
{
    /// <summary>The <see cref="IHttpClientFactory"/> client name; its handler is the SSRF-safe one.</summary>
    public const string HttpClientName = "Conductor.Webhooks";

    private static readonly string UserAgent = "Conductor.Sdk/" + (typeof(WebhookChannel).Assembly.GetName().Version?.ToString(3) ?? "0.1.0");
    private readonly IHttpClientFactory _clients;
    private readonly TimeProvider _time;
    private readonly bool _propagateTrace;
    private HttpMessageInvoker? _invoker;

    /// <summary>Creates the channel.</summary>
    public WebhookChannel(IHttpClientFactory clients, TimeProvider time, Microsoft.Extensions.Options.IOptions<ConductorOptions>? options = null)
    {
        _clients = clients;
        _time = time;
        _propagateTrace = options?.Value.PropagateTraceContext ?? true;
    }

    /// <inheritdoc />
    public string Channel => "webhook";

    /// <inheritdoc />
    public string EndpointOf(NotificationDefinition notification) => ((WebhookNotificationDefinition)notification).Endpoint;

    /// <summary>Builds the request of one attempt (public so that tools can show exactly what would be sent).</summary>
    public HttpRequestMessage CreateRequest(DeliveryAttempt attempt)
    {
        var notification = (WebhookNotificationDefinition)attempt.Notification;
        var delivery = attempt.Delivery;
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        var stamp = timestamp.ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, notification.Url)
        {
            Content = new ReadOnlyMemoryContent(delivery.Payload),
            Version = HttpVersion.Version11,
        };
        // Raw values: header objects shared between concurrent requests would be contended (and are mutable).
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        // Enumerating an empty read-only dictionary still allocates an enumerator: most notifications have no extra headers.
        if (notification.Headers.Count > 0)
        {
            foreach (var (name, value) in notification.Headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        var headers = request.Headers;
        // W3C trace context: the attempt's activity when one is recorded, else the trace of the Notify call itself, so
        // that the receiver's spans join the sender's trace. (The HTTP handler's own propagation is off: this is the one.)
        if (_propagateTrace)
        {
            var current = System.Diagnostics.Activity.Current;
            if (current is { IdFormat: System.Diagnostics.ActivityIdFormat.W3C })
            {
                headers.TryAddWithoutValidation("traceparent", current.Id);
                if (!string.IsNullOrEmpty(current.TraceStateString)) headers.TryAddWithoutValidation("tracestate", current.TraceStateString);
            }
            else if (delivery.TraceParent is { } parent)
            {
                headers.TryAddWithoutValidation("traceparent", parent);
            }
        }

        headers.TryAddWithoutValidation("X-Conductor-Event", delivery.Event);
        headers.TryAddWithoutValidation("X-Conductor-Delivery-Attempt", attempt.Number.ToString(CultureInfo.InvariantCulture));
        if (notification.Format == WebhookSignatureFormat.StandardWebhooks)
        {
            headers.TryAddWithoutValidation("webhook-id", delivery.Id);
            headers.TryAddWithoutValidation("webhook-timestamp", stamp);
            if (notification.SigningKeys.Count > 0)
            {
                headers.TryAddWithoutValidation("webhook-signature", Signatures(notification.SigningKeys, ' ', delivery, timestamp, standard: true));
            }
        }
        else
        {
            headers.TryAddWithoutValidation("X-Conductor-Timestamp", stamp);
            headers.TryAddWithoutValidation("X-Conductor-Delivery-Id", delivery.Id);
            if (notification.SigningKeys.Count > 0)
            {
                headers.TryAddWithoutValidation("X-Conductor-Signature", Signatures(notification.SigningKeys, ',', delivery, timestamp, standard: false));
            }
        }

        return request;
    }

    /// <summary>One signature per key; several only while a secret is being rotated.</summary>
    private static string Signatures(IReadOnlyList<byte[]> keys, char separator, DeliveryRecord delivery, long timestamp, bool standard)
    {
        if (keys.Count == 1) return Sign(keys[0], delivery, timestamp, standard);
        var all = new string[keys.Count];
        for (var i = 0; i < all.Length; i++) all[i] = Sign(keys[i], delivery, timestamp, standard);
        return string.Join(separator, all);
    }

    private static string Sign(byte[] key, DeliveryRecord delivery, long timestamp, bool standard) => standard
        ? WebhookSigner.SignStandardWebhooksWithKeptKey(key, delivery.Id, timestamp, delivery.Payload.Span)
        : WebhookSigner.SignConductorWithKeptKey(key, timestamp, delivery.Payload.Span);

    /// <inheritdoc />
    // Pooled state machine: an attempt is awaited once by the processor, so its box can be reused by the next one.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(Conductor.Sdk.Delivery.DeliveryMethodBuilder<>))]
    public async ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
    {
        using var request = CreateRequest(attempt);
        // The factory's handler for this client name, kept and called through an HttpMessageInvoker: HttpClient's own layer
        // (a linked cancellation source per request for its Timeout, which is infinite here, and response buffering, not used
        // with ResponseHeadersRead) adds nothing. The handler (SocketsHttpHandler with PooledConnectionLifetime) recycles its
        // connections itself, so keeping it does not pin DNS answers.
        var invoker = _invoker ??= _clients is IHttpMessageHandlerFactory handlers
            ? new HttpMessageInvoker(handlers.CreateHandler(HttpClientName), disposeHandler: false)
            : _clients.CreateClient(HttpClientName);
        try
        {
            using var response = await invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var outcome = RetrySchedule.Classify(response.StatusCode);
            var excerpt = await DrainAsync(response.Content, keepExcerpt: outcome != AttemptOutcome.Delivered, cancellationToken).ConfigureAwait(false);
            if (outcome == AttemptOutcome.Delivered) return AttemptResult.Delivered(status);
            TimeSpan? retryAfter = null;
            if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter is { } header)
            {
                retryAfter = header.Delta ?? (header.Date is { } date ? date - _time.GetUtcNow() : null);
            }

            var error = $"HTTP {status} {response.ReasonPhrase}".TrimEnd();
            return new AttemptResult(outcome, status, AttemptErrorKind.HttpStatus, excerpt is null ? error : error + ": " + excerpt, retryAfter);
        }
        catch (HttpRequestException ex) when (Find<DestinationRefusedException>(ex) is { } refused)
        {
            return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.DestinationRefused, refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection, ex.Message);
        }
    }

    /// <summary>Bytes of a refusing receiver's body kept with the attempt (the dashboard's "response excerpt").</summary>
    internal const int ExcerptBytes = 200;

    /// <summary>
    /// Reads and discards a small response body so the connection can be reused; a larger one is left
    /// unread and the connection is closed instead of buffering whatever a receiver sends. With
    /// <paramref name="keepExcerpt"/>, returns the start of the body as one line of text (null when there is none).
    /// </summary>
    private static async Task<string?> DrainAsync(HttpContent content, bool keepExcerpt, CancellationToken cancellationToken)
    {
        const int Limit = 16 * 1024;
        if (content.Headers.ContentLength is 0 or > Limit) return null;
        using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            var total = 0;
            string? excerpt = null;
            int read;
            while (total <= Limit && (read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (keepExcerpt && total == 0) excerpt = Excerpt(buffer.AsSpan(0, Math.Min(read, ExcerptBytes)));
                total += read;
            }

            return excerpt;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The bytes as one line of text: control characters become spaces, a cut character is dropped.</summary>
    private static string? Excerpt(ReadOnlySpan<byte> bytes)
    {
        var text = System.Text.Encoding.UTF8.GetString(bytes).TrimEnd('\uFFFD');
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i])) chars[i] = ' ';
        }

        var line = new string(chars).Trim();
        return line.Length == 0 ? null : line;
    }

    private static T? Find<T>(Exception exception) where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T match) return match;
        }

        return null;
    }
}
