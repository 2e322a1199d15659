using Conductor.Sdk.AspNetCore;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace WebhookReceiver;

/// <summary>
/// The receiver application: <c>POST /webhooks/conductor</c> verifies the Conductor signature, drops deliveries it has
/// already seen (same <c>X-Conductor-Delivery-Id</c>), queues the rest and answers 200 at once; a background service
/// processes the queue.
/// </summary>
public sealed class WebhookReceiverApp
{
    /// <summary>The configuration key of the shared secret (the <c>secret:</c> of the ensemble's webhook notification).</summary>
    public const string SecretKey = "Conductor:WebhookSecret";

    /// <summary>The configuration section of the receiver's own settings.</summary>
    public const string SectionName = "WebhookReceiver";

    /// <summary>The path Conductor posts to.</summary>
    public const string Path = "/webhooks/conductor";

    private WebhookReceiverApp()
    {
    }

    /// <summary>Builds the application; fails with a message naming <see cref="SecretKey"/> when no secret is configured.</summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.Configure<DeduplicationOptions>(builder.Configuration.GetSection($"{SectionName}:Deduplication"));
        builder.Services.Configure<WebhookQueueOptions>(builder.Configuration.GetSection(SectionName));
        builder.Services.AddSingleton<DeliveryDeduplicator>();
        builder.Services.AddSingleton<WebhookQueue>();
        builder.Services.TryAddSingleton<IWebhookHandler, LoggingWebhookHandler>();
        builder.Services.AddHostedService<WebhookProcessor>();

        var app = builder.Build();
        var secret = app.Configuration[SecretKey];
        if (string.IsNullOrWhiteSpace(secret))
        {
            throw new InvalidOperationException(
                $"WebhookReceiver cannot start: the configuration value '{SecretKey}' is missing. Set it to the 'secret:' of the " +
                "ensemble's webhook notification, for example with the environment variable Conductor__WebhookSecret or " +
                "'dotnet user-secrets set Conductor:WebhookSecret <secret>'.");
        }

        app.MapPost(Path, Receive).RequireConductorSignature(o => o.Secrets.Add(secret));
        return app;
    }

    /// <summary>
    /// Runs after the signature filter accepted the request. Answers fast: the work is queued, not done here, so that
    /// Conductor's attempt timeout never fires because of slow processing.
    /// </summary>
    private static IResult Receive(HttpContext context, DeliveryDeduplicator deduplicator, WebhookQueue queue, TimeProvider time)
    {
        var webhook = VerifiedWebhook.Get(context)!;
        if (webhook.DeliveryId is not { } deliveryId)
        {
            return Results.Text("X-Conductor-Delivery-Id is missing: the delivery cannot be deduplicated.", statusCode: StatusCodes.Status400BadRequest);
        }

        // A retry of a delivery already accepted (its 200 was lost or came too late): acknowledge it, do not redo the work.
        if (!deduplicator.TryBegin(deliveryId)) return Results.Text("duplicate");

        var received = new ReceivedWebhook(deliveryId, webhook.Event, webhook.Attempt, webhook.Body, time.GetUtcNow());
        if (!queue.TryEnqueue(received))
        {
            // Full queue: refuse so that Conductor retries later, and forget the id so that the retry is not a "duplicate".
            deduplicator.Forget(deliveryId);
            context.Response.Headers.RetryAfter = "5";
            return Results.Text("busy, retry later", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Text("queued");
    }
}
