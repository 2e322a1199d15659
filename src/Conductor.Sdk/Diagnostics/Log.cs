using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.Diagnostics;

/// <summary>
/// The SDK's log messages. They name deliveries, ensembles, notifications and endpoints (scheme, host,
/// port), never secrets, full URLs or bodies.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Enqueued {Count} deliveries for {Event} of ensemble '{Ensemble}'")]
    public static partial void Enqueued(ILogger logger, int count, string @event, string ensemble);

    [LoggerMessage(2, LogLevel.Debug, "Delivery {DeliveryId} ({NotificationKey}, {Event}) delivered to {Endpoint} on attempt {Attempt} with status {StatusCode}")]
    public static partial void Delivered(ILogger logger, string deliveryId, string notificationKey, string @event, string endpoint, int attempt, int? statusCode);

    [LoggerMessage(3, LogLevel.Warning, "Delivery {DeliveryId} ({NotificationKey}, {Event}) attempt {Attempt} to {Endpoint} failed ({ErrorKind}, status {StatusCode}: {Error}); retrying at {NextDueAt:O}")]
    public static partial void Retrying(ILogger logger, string deliveryId, string notificationKey, string @event, int attempt, string endpoint, string errorKind, int? statusCode, string? error, DateTimeOffset nextDueAt);

    [LoggerMessage(4, LogLevel.Error, "Delivery {DeliveryId} ({NotificationKey}, {Event}) to {Endpoint} dead-lettered after attempt {Attempt} ({ErrorKind}, status {StatusCode}: {Error})")]
    public static partial void DeadLettered(ILogger logger, string deliveryId, string notificationKey, string @event, string endpoint, int attempt, string errorKind, int? statusCode, string? error);

    // The same two lines for a failure without a status code (a connection error, a timeout): no empty "status :".
    [LoggerMessage(28, LogLevel.Warning, "Delivery {DeliveryId} ({NotificationKey}, {Event}) attempt {Attempt} to {Endpoint} failed ({ErrorKind}: {Error}); retrying at {NextDueAt:O}")]
    public static partial void RetryingWithoutStatus(ILogger logger, string deliveryId, string notificationKey, string @event, int attempt, string endpoint, string errorKind, string? error, DateTimeOffset nextDueAt);

    [LoggerMessage(29, LogLevel.Error, "Delivery {DeliveryId} ({NotificationKey}, {Event}) to {Endpoint} dead-lettered after attempt {Attempt} ({ErrorKind}: {Error})")]
    public static partial void DeadLetteredWithoutStatus(ILogger logger, string deliveryId, string notificationKey, string @event, string endpoint, int attempt, string errorKind, string? error);

    [LoggerMessage(5, LogLevel.Debug, "Delivery {DeliveryId} postponed to {DueAt:O}: endpoint {Endpoint} is {Reason}")]
    public static partial void Postponed(ILogger logger, string deliveryId, DateTimeOffset dueAt, string endpoint, string reason);

    [LoggerMessage(6, LogLevel.Error, "Delivery {DeliveryId} refers to notification {NotificationKey}, which is not registered (was the ensemble removed?); dead-lettering it")]
    public static partial void UnknownNotification(ILogger logger, string deliveryId, string notificationKey);

    [LoggerMessage(7, LogLevel.Error, "The delivery worker failed and will try again")]
    public static partial void WorkerFailed(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Error, "Delivery {DeliveryId}: the {Channel} channel threw instead of returning a result; the attempt is counted as a retryable failure")]
    public static partial void ChannelThrew(ILogger logger, Exception exception, string deliveryId, string channel);

    [LoggerMessage(9, LogLevel.Information, "Retention removed {Delivered} delivered and {DeadLettered} dead-lettered deliveries in {Milliseconds} ms; the store holds {Pending} pending, {StoredDelivered} delivered and {StoredDeadLettered} dead-lettered ({Bytes} bytes)")]
    public static partial void Pruned(ILogger logger, int delivered, int deadLettered, long milliseconds, long pending, long storedDelivered, long storedDeadLettered, long bytes);

    [LoggerMessage(10, LogLevel.Warning, "Retention could not prune the delivery store this time; it tries again in {Interval}")]
    public static partial void PruneFailed(ILogger logger, Exception exception, TimeSpan interval);

    [LoggerMessage(20, LogLevel.Warning, "Endpoint {Endpoint} is failing: every attempt since {Since:o} failed ({FailedAttempts} attempts); last error: {LastError}")]
    public static partial void EndpointFailing(ILogger logger, string endpoint, DateTimeOffset since, long failedAttempts, string? lastError);

    [LoggerMessage(21, LogLevel.Error, "Endpoint {Endpoint} is disabled: {Reason}. Its deliveries are kept and are not attempted until it is enabled again (conductor endpoints enable {Endpoint}, the dashboard, or IEndpointAdmin.EnableAsync)")]
    public static partial void EndpointDisabled(ILogger logger, string endpoint, string reason);

    [LoggerMessage(22, LogLevel.Information, "Endpoint {Endpoint} is enabled again; its waiting deliveries are sent in order")]
    public static partial void EndpointEnabled(ILogger logger, string endpoint);

    [LoggerMessage(23, LogLevel.Information, "Endpoint {Endpoint} delivered again after failing since {Since:o}")]
    public static partial void EndpointRecovered(ILogger logger, string endpoint, DateTimeOffset since);

    [LoggerMessage(24, LogLevel.Warning, "Endpoint {Endpoint} is paused until {Until:o}: {Reason}")]
    public static partial void EndpointHeld(ILogger logger, string endpoint, DateTimeOffset until, string reason);

    [LoggerMessage(25, LogLevel.Error, "An operational event observer ({Observer}) failed on {Event}")]
    public static partial void ObserverFailed(ILogger logger, Exception exception, string observer, string @event);

    [LoggerMessage(26, LogLevel.Error, "The endpoint check failed and runs again in {Interval}")]
    public static partial void EndpointCheckFailed(ILogger logger, Exception exception, TimeSpan interval);

    [LoggerMessage(27, LogLevel.Warning, "{Dropped} operational events were dropped: more than {Capacity} were waiting to be handled (observers or their notifications are too slow)")]
    public static partial void OperationalEventsDropped(ILogger logger, long dropped, int capacity);

    [LoggerMessage(30, LogLevel.Information, "Deliveries are stored in the SQLite file {Path} (set Conductor:StorePath or call UseSqlite(path) to choose another)")]
    public static partial void StoreLocation(ILogger logger, string path);
}
