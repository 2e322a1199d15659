using Conductor.Sdk.Channels;

namespace Conductor.Sdk.Delivery;

/// <summary>Where a delivery stands.</summary>
public enum DeliveryStatus
{
    /// <summary>Waiting for its next attempt (the first, or a retry).</summary>
    Pending,
    /// <summary>Delivered; no attempt will follow.</summary>
    Delivered,
    /// <summary>Failed permanently or ran out of retries; kept, and can be replayed.</summary>
    DeadLettered,
}

/// <summary>
/// One notification of one event, as stored: the exact payload bytes, the stable id the receiver
/// deduplicates on, and the outcome of its last attempt.
/// </summary>
/// <param name="Id">Stable across attempts; sent as <c>X-Conductor-Delivery-Id</c> / <c>webhook-id</c>.</param>
/// <param name="Ensemble">The ensemble's name.</param>
/// <param name="Event">The event name.</param>
/// <param name="NotificationKey">The notification's <c>{ensemble}#{index}</c> key.</param>
/// <param name="Channel">webhook, email, sms or push.</param>
/// <param name="Endpoint">The isolation key of the destination.</param>
/// <param name="Payload">The body, serialized once when the event was dispatched.</param>
/// <param name="CreatedAt">When it was enqueued.</param>
/// <param name="DueAt">When its next attempt may run.</param>
/// <param name="Status">Pending, delivered or dead-lettered.</param>
/// <param name="Attempts">Attempts made so far.</param>
/// <param name="MaxAttempts">1 + the notification's retries.</param>
/// <param name="LastStatusCode">The status code of the last attempt, if it got one.</param>
/// <param name="LastErrorKind">How the last attempt failed.</param>
/// <param name="LastError">The last attempt's error message (never a secret or a body).</param>
public sealed record DeliveryRecord(
    string Id,
    string Ensemble,
    string Event,
    string NotificationKey,
    string Channel,
    string Endpoint,
    ReadOnlyMemory<byte> Payload,
    DateTimeOffset CreatedAt,
    DateTimeOffset DueAt,
    DeliveryStatus Status,
    int Attempts,
    int MaxAttempts,
    int? LastStatusCode = null,
    AttemptErrorKind LastErrorKind = AttemptErrorKind.None,
    string? LastError = null)
{
    /// <summary>
    /// The W3C <c>traceparent</c> of the code that called <c>Notify</c> (its current activity), kept with the delivery so
    /// that every attempt, however late and in whichever process, continues that trace. Null when there was none or
    /// <see cref="ConductorOptions.PropagateTraceContext"/> is off.
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>
    /// When the delivery reached its final state (delivered or dead-lettered: the end of its last attempt), or null while
    /// it is pending. Retention counts from here (<see cref="ConductorRetentionOptions.ExpiresAt"/>).
    /// </summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>When an attempt that ends as <paramref name="next"/> finishes the delivery: its end, or null if it stays pending.</summary>
    internal static DateTimeOffset? Finished(AttemptLog attempt, DeliveryStatus next) =>
        next == DeliveryStatus.Pending ? null : attempt.StartedAt + attempt.Duration;

    /// <summary>
    /// A new delivery id: <c>dlv_</c> and a time-ordered GUID (RFC 9562 version 7: 48-bit Unix milliseconds, then 74
    /// random bits), as 32 lowercase hex digits. The random bits come from the operating system's CSPRNG in blocks, so
    /// that an id does not cost a system call.
    /// </summary>
    public static string NewId(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        Span<byte> uuid = stackalloc byte[16];
        IdRandom.Fill(uuid[6..]);
        var milliseconds = time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--, milliseconds >>= 8) uuid[i] = (byte)milliseconds;
        uuid[6] = (byte)(0x70 | (uuid[6] & 0x0F));
        uuid[8] = (byte)(0x80 | (uuid[8] & 0x3F));
        Span<char> id = stackalloc char[36];
        "dlv_".AsSpan().CopyTo(id);
        Convert.TryToHexStringLower(uuid, id[4..], out _);
        return new string(id);
    }

    /// <summary>Random bytes for ids, drawn from <see cref="System.Security.Cryptography.RandomNumberGenerator"/> a block per thread at a time.</summary>
    private static class IdRandom
    {
        private const int Block = 1024;
        [ThreadStatic] private static byte[]? t_block;
        [ThreadStatic] private static int t_used;

        public static void Fill(Span<byte> destination)
        {
            var block = t_block;
            if (block is null || t_used + destination.Length > Block)
            {
                block = t_block ??= new byte[Block];
                System.Security.Cryptography.RandomNumberGenerator.Fill(block);
                t_used = 0;
            }

            block.AsSpan(t_used, destination.Length).CopyTo(destination);
            // Used bytes are cleared so that no byte is handed out twice, even if the thread state were reused.
            block.AsSpan(t_used, destination.Length).Clear();
            t_used += destination.Length;
        }
    }
}

/// <summary>The log of one attempt.</summary>
public sealed record AttemptLog(
    string DeliveryId,
    int Number,
    DateTimeOffset StartedAt,
    TimeSpan Duration,
    AttemptOutcome Outcome,
    int? StatusCode,
    AttemptErrorKind ErrorKind,
    string? Error,
    DateTimeOffset? NextDueAt);

/// <summary>
/// A filter for listing deliveries, newest first (creation time, then id). <paramref name="Before"/> continues a listing after the last row of the previous
/// page (keyset paging: the cost of a page does not grow with its depth). A <paramref name="Search"/> that starts with
/// <c>dlv_</c> is an id prefix; any other text is matched against the endpoint, ignoring case.
/// </summary>
public sealed record DeliveryQuery(
    string? Ensemble = null,
    string? Event = null,
    DeliveryStatus? Status = null,
    DateTimeOffset? Since = null,
    int Limit = 100,
    string? Channel = null,
    DateTimeOffset? Until = null,
    string? Search = null,
    DeliveryCursor? Before = null)
{
    /// <summary>The smallest text above every id that starts with <paramref name="prefix"/>, when it ends in a hex digit.</summary>
    private static string? NextHexPrefix(string prefix)
    {
        var last = prefix[^1];
        var next = last switch
        {
            >= '0' and <= '8' or >= 'a' and <= 'e' => (char)(last + 1),
            '9' => 'a',
            'f' => 'g',
            _ => '\0',
        };
        return next == '\0' || prefix.Length <= 4 ? null : prefix[..^1] + next;
    }

    /// <summary>A search that starts with <c>dlv_</c> is a delivery id prefix; any other is a substring of the endpoint.</summary>
    private bool SearchesId => Search is not null && Search.StartsWith("dlv_", StringComparison.Ordinal);

    /// <summary>Whether <paramref name="record"/> passes the filter (the in-memory store's form of <see cref="SqlWhere"/>).</summary>
    public bool Matches(DeliveryRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return (Ensemble is null || record.Ensemble == Ensemble)
            && (Event is null || record.Event == Event)
            && (Status is null || record.Status == Status)
            && (Channel is null || record.Channel == Channel)
            && (Since is null || record.CreatedAt >= Since)
            && (Until is null || record.CreatedAt < Until)
            && (string.IsNullOrEmpty(Search) || (SearchesId ? record.Id.StartsWith(Search, StringComparison.Ordinal) : record.Endpoint.Contains(Search, StringComparison.OrdinalIgnoreCase)))
            && (Before is null || record.CreatedAt < Before.CreatedAt || (record.CreatedAt == Before.CreatedAt && string.CompareOrdinal(record.Id, Before.Id) < 0));
    }

    /// <summary>
    /// The filter as a SQL condition over the deliveries table's columns (the same in SQLite and PostgreSQL), or an empty
    /// string; <paramref name="parameter"/> adds a parameter value and returns its placeholder.
    /// </summary>
    public string SqlWhere(Func<object, string> parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        var where = new List<string>();
        if (Ensemble is not null) where.Add("ensemble = " + parameter(Ensemble));
        if (Event is not null) where.Add("event = " + parameter(Event));
        if (Status is not null) where.Add("status = " + parameter((int)Status));
        if (Channel is not null) where.Add("channel = " + parameter(Channel));
        if (Since is not null) where.Add("created_at >= " + parameter(Since.Value.UtcTicks));
        if (Until is not null) where.Add("created_at < " + parameter(Until.Value.UtcTicks));
        if (!string.IsNullOrEmpty(Search))
        {
            var escaped = Search.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);
            if (SearchesId && NextHexPrefix(Search) is { } upper)
            {
                // A range on the primary key, so that its index finds the prefix (LIKE would read every row). The bound
                // steps the last hex digit, which sorts the same in byte order and in the usual database collations.
                where.Add($"id >= {parameter(Search)} AND id < {parameter(upper)}");
            }
            else if (SearchesId)
            {
                where.Add($"id LIKE {parameter(escaped + "%")} ESCAPE '\\'");
            }
            else
            {
                where.Add($"lower(endpoint) LIKE {parameter("%" + escaped.ToLowerInvariant() + "%")} ESCAPE '\\'");
            }
        }

        if (Before is not null)
        {
            var ticks = parameter(Before.CreatedAt.UtcTicks);
            where.Add($"(created_at < {ticks} OR (created_at = {ticks} AND id < {parameter(Before.Id)}))");
        }

        return where.Count == 0 ? string.Empty : "WHERE " + string.Join(" AND ", where);
    }
}

/// <summary>Where a page of <see cref="DeliveryQuery"/> ended: the creation time and id of its last delivery.</summary>
public sealed record DeliveryCursor(DateTimeOffset CreatedAt, string Id)
{
    /// <summary>The cursor of the page after the one ending with <paramref name="last"/>.</summary>
    public static DeliveryCursor After(DeliveryRecord last)
    {
        ArgumentNullException.ThrowIfNull(last);
        return new DeliveryCursor(last.CreatedAt, last.Id);
    }

    /// <summary>A URL-safe form: <c>{UTC ticks}.{id}</c>.</summary>
    public override string ToString() => CreatedAt.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture) + "." + Id;

    /// <summary>Reads <see cref="ToString"/>'s form; false for anything else.</summary>
    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DeliveryCursor? cursor)
    {
        cursor = null;
        var dot = text?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (dot <= 0 || dot == text!.Length - 1) return false;
        if (!long.TryParse(text.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ticks)
            || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks) return false;
        cursor = new DeliveryCursor(new DateTimeOffset(ticks, TimeSpan.Zero), text[(dot + 1)..]);
        return true;
    }
}
