using System.Collections.Concurrent;
using Conductor.Sdk.AspNetCore;
using Conductor.Sdk.Webhooks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Quickstart;

/// <summary>One request the receiver accepted after checking its signature, and what it answered.</summary>
public sealed record ReceivedDelivery(string Path, string DeliveryId, string Event, int Attempt, int Status);

/// <summary>
/// The webhook receiver the Quickstart sends to: a minimal API on 127.0.0.1 (a free port) whose endpoints verify
/// every signature with the Conductor.Sdk.AspNetCore filter before the handler runs. One endpoint answers 410 Gone
/// (a retired integration: permanent failure) and one answers 503 to the first attempt (to show a retry).
/// </summary>
public sealed class LocalReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedDelivery> _received = new();
    private readonly ConcurrentDictionary<string, int> _flakyAttempts = new();

    private LocalReceiver(WebApplication app) => _app = app;

    /// <summary>The receiver's address, such as http://127.0.0.1:5123.</summary>
    public string BaseAddress => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

    /// <summary>The requests that passed verification, in arrival order.</summary>
    public IReadOnlyList<ReceivedDelivery> Received => _received.ToArray();

    public static async Task<LocalReceiver> StartAsync(string conductorSecret, string standardSecret)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new LocalReceiver(app);

        void Conductor(ConductorWebhookVerificationOptions o) => o.Secrets.Add(conductorSecret);
        app.MapPost("/hooks/orders", (HttpContext context) => receiver.Answer(context, 200)).RequireConductorSignature(Conductor);
        app.MapPost("/hooks/invoices", (HttpContext context) => receiver.Answer(context, 200)).RequireConductorSignature(Conductor);
        app.MapPost("/hooks/retired-endpoint", (HttpContext context) => receiver.Answer(context, 410)).RequireConductorSignature(Conductor);
        app.MapPost("/hooks/flaky", (HttpContext context) =>
        {
            var id = VerifiedWebhook.Get(context)!.DeliveryId ?? string.Empty;
            return receiver.Answer(context, _ = receiver._flakyAttempts.AddOrUpdate(id, 1, (_, n) => n + 1) == 1 ? 503 : 200);
        }).RequireConductorSignature(o =>
        {
            o.Format = WebhookSignatureFormat.StandardWebhooks;
            o.Secrets.Add(standardSecret);
        });

        await app.StartAsync();
        return receiver;
    }

    private IResult Answer(HttpContext context, int status)
    {
        // The filter has verified the signature and timestamp against the raw body before this runs.
        var webhook = VerifiedWebhook.Get(context)!;
        var @event = webhook.Event;
        if (string.IsNullOrEmpty(@event))
        {
            // Standard Webhooks headers do not name the event: read it from the verified body.
            using var body = System.Text.Json.JsonDocument.Parse(webhook.Body);
            @event = body.RootElement.GetProperty("event").GetString();
        }

        var id = webhook.DeliveryId ?? "?";
        var attempt = webhook.Attempt > 0 ? webhook.Attempt : _received.Count(r => r.DeliveryId == id) + 1;
        _received.Enqueue(new ReceivedDelivery(context.Request.Path, id, @event ?? "?", attempt, status));
        return Results.StatusCode(status);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
