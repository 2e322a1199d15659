using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace WebhookReceiver;

/// <summary>A verified, first-seen webhook waiting to be processed.</summary>
/// <param name="DeliveryId">The stable delivery id (<c>X-Conductor-Delivery-Id</c>).</param>
/// <param name="Event">The event name (<c>X-Conductor-Event</c>).</param>
/// <param name="Attempt">Conductor's attempt number, 1-based.</param>
/// <param name="Body">The exact JSON body that was verified.</param>
/// <param name="ReceivedAt">When it was accepted.</param>
public sealed record ReceivedWebhook(string DeliveryId, string? Event, int Attempt, ReadOnlyMemory<byte> Body, DateTimeOffset ReceivedAt);

/// <summary>The application's work for one webhook. Replace the registration to do yours.</summary>
public interface IWebhookHandler
{
    /// <summary>Processes one webhook; an exception is logged and the next webhook is processed.</summary>
    Task HandleAsync(ReceivedWebhook webhook, CancellationToken cancellationToken);
}

/// <summary>Settings of <see cref="WebhookQueue"/> (section <c>WebhookReceiver</c>).</summary>
public sealed class WebhookQueueOptions
{
    /// <summary>Webhooks waiting at most; when full, new ones are refused with 503 and Conductor retries them.</summary>
    public int QueueCapacity { get; set; } = 1000;
}

/// <summary>The bounded in-memory queue between the endpoint and <see cref="WebhookProcessor"/>.</summary>
public sealed class WebhookQueue(IOptions<WebhookQueueOptions> options)
{
    private readonly Channel<ReceivedWebhook> _channel = Channel.CreateBounded<ReceivedWebhook>(
        new BoundedChannelOptions(Math.Max(1, options.Value.QueueCapacity)) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    /// <summary>Queues a webhook without waiting; false when the queue is full.</summary>
    public bool TryEnqueue(ReceivedWebhook webhook) => _channel.Writer.TryWrite(webhook);

    /// <summary>The queued webhooks, in arrival order.</summary>
    public IAsyncEnumerable<ReceivedWebhook> ReadAllAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAllAsync(cancellationToken);
}

/// <summary>
/// Processes queued webhooks one at a time, off the request path. Webhooks still queued when the application stops are
/// lost (Conductor already has its 200): see README.md for when that matters.
/// </summary>
public sealed partial class WebhookProcessor(WebhookQueue queue, IWebhookHandler handler, ILogger<WebhookProcessor> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var webhook in queue.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await handler.HandleAsync(webhook, stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    Failed(logger, ex, webhook.DeliveryId, webhook.Event);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(1, LogLevel.Error, "Processing webhook {DeliveryId} ({Event}) failed")]
    private static partial void Failed(ILogger logger, Exception exception, string deliveryId, string? @event);
}

/// <summary>The default handler: logs which event of which execution arrived. Replace it with your own work.</summary>
public sealed partial class LoggingWebhookHandler(ILogger<LoggingWebhookHandler> logger) : IWebhookHandler
{
    /// <inheritdoc />
    public Task HandleAsync(ReceivedWebhook webhook, CancellationToken cancellationToken)
    {
        // {"event":"execution.completed","timestamp":"...","data":{"ensemble":"...","id":"...",...}}
        using var document = JsonDocument.Parse(webhook.Body);
        var data = document.RootElement.TryGetProperty("data", out var d) ? d : default;
        Processed(logger, document.RootElement.TryGetProperty("event", out var e) ? e.GetString() : webhook.Event,
            Text(data, "ensemble"), Text(data, "id") ?? Text(data, "executionId"), webhook.DeliveryId, webhook.Attempt);
        return Task.CompletedTask;
    }

    private static string? Text(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    [LoggerMessage(2, LogLevel.Information, "Processed {Event} of ensemble {Ensemble}, execution {ExecutionId} (delivery {DeliveryId}, attempt {Attempt})")]
    private static partial void Processed(ILogger logger, string? @event, string? ensemble, string? executionId, string deliveryId, int attempt);
}
