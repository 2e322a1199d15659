using System.Net;

namespace Conductor.Sdk.Delivery;

/// <summary>What to do after one delivery attempt.</summary>
public enum AttemptOutcome
{
    /// <summary>2xx or 3xx: done (redirects are not followed).</summary>
    Delivered,
    /// <summary>5xx, 408, 429, connection error or timeout: try again on the schedule.</summary>
    Retry,
    /// <summary>Any other 4xx: the receiver refused it; dead-letter without retrying.</summary>
    Permanent,
}

/// <summary>
/// The retry rules of DESIGN.md section 7: after the first attempt wait 1 s, 5 s, 30 s, 2 min, 5 min
/// (up to the notification's <c>retries</c>); Retry-After on 429 is honoured, capped at 5 minutes.
/// </summary>
public static class RetrySchedule
{
    /// <summary>The waits before retries 1 to 5.</summary>
    public static IReadOnlyList<TimeSpan> Delays { get; } = new[]
    {
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5),
    };

    /// <summary>The longest Retry-After that is honoured.</summary>
    public static TimeSpan MaxRetryAfter { get; } = TimeSpan.FromMinutes(5);

    /// <summary>Classifies an HTTP response status.</summary>
    public static AttemptOutcome Classify(HttpStatusCode status)
    {
        var code = (int)status;
        if (code is >= 200 and < 400) return AttemptOutcome.Delivered;
        if (code >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests) return AttemptOutcome.Retry;
        return AttemptOutcome.Permanent;
    }

    /// <summary>
    /// The wait before the retry that follows attempt number <paramref name="attempt"/> (1-based), or null when
    /// <paramref name="retries"/> are used up and the delivery is to be dead-lettered.
    /// </summary>
    public static TimeSpan? NextDelay(int attempt, int retries, TimeSpan? retryAfter = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(retries);
        if (attempt > Math.Min(retries, Delays.Count)) return null;
        var scheduled = Delays[attempt - 1];
        if (retryAfter is { } requested && requested > TimeSpan.Zero)
        {
            return requested > MaxRetryAfter ? MaxRetryAfter : requested > scheduled ? requested : scheduled;
        }

        return scheduled;
    }

    /// <summary>Reads Retry-After as seconds or an HTTP date, relative to <paramref name="now"/>.</summary>
    public static TimeSpan? ParseRetryAfter(string? header, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(header)) return null;
        if (int.TryParse(header.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return DateTimeOffset.TryParse(header, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var date) && date > now
            ? date - now
            : null;
    }
}
