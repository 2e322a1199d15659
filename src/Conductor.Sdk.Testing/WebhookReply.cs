using System.Globalization;
using System.Net;

namespace Conductor.Sdk.Testing;

/// <summary>
/// What the kit's receiver answers to one webhook attempt: a status (with <c>Retry-After</c> for 429 and 503), a
/// time-out (the attempt hangs until its timeout passes on the kit's clock) or a refused connection. The real webhook
/// channel reads the answer, so retries, dead letters and endpoint holds follow exactly as in production.
/// </summary>
public sealed record WebhookReply
{
    private WebhookReply(int? status, TimeSpan? retryAfter, bool timesOut, bool refuses, string? body)
    {
        Status = status;
        RetryAfter = retryAfter;
        TimesOut = timesOut;
        Refuses = refuses;
        Body = body;
    }

    /// <summary>The status code, or null for <see cref="Timeout"/> and <see cref="ConnectionRefused"/>.</summary>
    public int? Status { get; }

    /// <summary>The <c>Retry-After</c> sent with the status, if any.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>True when the attempt gets no answer until its timeout passes.</summary>
    public bool TimesOut { get; }

    /// <summary>True when the connection is refused.</summary>
    public bool Refuses { get; }

    /// <summary>A response body (a refusing receiver's message becomes the attempt's excerpt).</summary>
    public string? Body { get; }

    /// <summary>200 OK: delivered.</summary>
    public static WebhookReply Ok { get; } = new(200, null, false, false, null);

    /// <summary>410 Gone: the delivery is dead-lettered at once and the endpoint counts a failure.</summary>
    public static WebhookReply Gone { get; } = new(410, null, false, false, null);

    /// <summary>No answer: the attempt fails with a timeout when its <c>timeout:</c> (30 s by default) passes on the kit's clock; advance it.</summary>
    public static WebhookReply Timeout { get; } = new(null, null, true, false, null);

    /// <summary>The connection is refused: a connection error, retried.</summary>
    public static WebhookReply ConnectionRefused { get; } = new(null, null, false, true, null);

    /// <summary>Any status, with an optional body.</summary>
    public static WebhookReply WithStatus(int status, string? body = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(status, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 599);
        return new(status, null, false, false, body);
    }

    /// <summary>429 Too Many Requests with <c>Retry-After</c>: the whole endpoint waits that long.</summary>
    public static WebhookReply TooManyRequests(TimeSpan retryAfter) => new(429, CheckRetryAfter(retryAfter), false, false, null);

    /// <summary>503 Service Unavailable, with <c>Retry-After</c> when given.</summary>
    public static WebhookReply Unavailable(TimeSpan? retryAfter = null) => new(503, retryAfter is { } delay ? CheckRetryAfter(delay) : null, false, false, null);

    private static TimeSpan CheckRetryAfter(TimeSpan retryAfter) => retryAfter >= TimeSpan.Zero
        ? retryAfter
        : throw new ArgumentOutOfRangeException(nameof(retryAfter), retryAfter, $"Retry-After must not be negative (it is {retryAfter}); a receiver sends a number of seconds from now");

    /// <summary>A status code as a reply: <c>kit.Webhooks.Reply(url, 500, 500, 200)</c>.</summary>
    public static implicit operator WebhookReply(int status) => status == 200 ? Ok : WithStatus(status);

    internal HttpResponseMessage ToResponse(HttpRequestMessage request)
    {
        var response = new HttpResponseMessage((HttpStatusCode)Status!.Value) { RequestMessage = request, Content = new StringContent(Body ?? string.Empty) };
        if (RetryAfter is { } delay)
        {
            response.Headers.TryAddWithoutValidation("Retry-After", ((long)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
        }

        return response;
    }

    /// <inheritdoc />
    public override string ToString() => TimesOut ? "timed out" : Refuses ? "connection refused" : RetryAfter is { } delay ? $"{Status} (Retry-After {delay.TotalSeconds:0} s)" : Status!.Value.ToString(CultureInfo.InvariantCulture);
}
