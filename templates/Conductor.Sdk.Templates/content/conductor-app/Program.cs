using Conductor.Sdk.AspNetCore;
using ConductorApp;
using ConductorApp.Ensembles;

var builder = WebApplication.CreateBuilder(args);

// Options come from the "Conductor" section of appsettings.json; ${env.NAME} values from any configuration source.
builder.Services.AddConductor()
    .AddOrderFulfilment(agents => agents.ShipOrder<ShipOrder>());
builder.Services.AddHealthChecks().AddConductor();
builder.Services.AddAntiforgery();

var app = builder.Build();

app.MapHealthChecks("/health");

// Runs the ensemble; its webhook is stored durably (the SQLite file named in the start-up log) before this returns and sent,
// signed and retried, by the background worker.
app.MapPost("/orders/{orderId}", async (string orderId, string customerEmail, OrderFulfilmentEnsemble ensemble) =>
{
    var run = await ensemble.RunAsync(new OrderFulfilmentEnsemble.Input { OrderId = orderId, CustomerEmail = customerEmail });
    return Results.Ok(new { status = run.Status.ToString(), trackingNumber = run.Output?.TrackingNumber });
});

if (app.Environment.IsDevelopment())
{
    // Development only: the webhook of ensembles/order-fulfilment.yaml points here (appsettings.Development.json), so
    // that the first run shows a signed delivery arrive; the dashboard shows it with its attempts at /conductor.
    // In production ORDER_WEBHOOK_URL is your receiver (see the conductor-receiver template).
    app.MapPost("/dev/hooks/orders", (HttpContext context, ILogger<Program> logger) =>
        {
            var webhook = VerifiedWebhook.Get(context)!;
            logger.LogInformation("Received {Event} delivery {DeliveryId} (attempt {Attempt}), signature verified", webhook.Event, webhook.DeliveryId, webhook.Attempt);
            return Results.NoContent();
        })
        .RequireConductorSignature(options => options.Secrets.Add(app.Configuration["ORDER_WEBHOOK_SECRET"]!));
    app.MapConductorDashboard("/conductor", options => options.AllowAnonymousInDevelopment = true);
}

app.Run();

/// <summary>The app's entry point, public so that tests can host it (WebApplicationFactory&lt;Program&gt;).</summary>
public partial class Program;
