using System.Collections.Concurrent;
using Conductor.Sdk.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

// The signing secret of the sending notification (its `secret: ${env.NAME}`), from configuration or user-secrets.
var secret = app.Configuration["CONDUCTOR_WEBHOOK_SECRET"]
    ?? throw new InvalidOperationException("Set CONDUCTOR_WEBHOOK_SECRET (for example: dotnet user-secrets set CONDUCTOR_WEBHOOK_SECRET <secret>).");

// Deliveries are at least once: a retry after a lost response carries the same X-Conductor-Delivery-Id. Keep the ids
// you have processed (in your database, next to the effect) and answer 200 again without repeating the work.
var processed = new ConcurrentDictionary<string, DateTimeOffset>();

app.MapPost("/hooks/conductor", (HttpContext context, ILogger<Program> logger) =>
    {
        // Only requests whose signature and timestamp verified get here; others were refused with 401.
        var webhook = VerifiedWebhook.Get(context)!;
        if (webhook.DeliveryId is { } id && !processed.TryAdd(id, DateTimeOffset.UtcNow)) return Results.Ok();
        logger.LogInformation("{Event} delivery {DeliveryId} (attempt {Attempt}): {Bytes} bytes", webhook.Event, webhook.DeliveryId, webhook.Attempt, webhook.Body.Length);
        return Results.NoContent();
    })
    .RequireConductorSignature(options => options.Secrets.Add(secret));

app.Run();
