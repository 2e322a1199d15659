using ConductorApp;
using ConductorApp.Ensembles;

var builder = WebApplication.CreateBuilder(args);

// Options come from the "Conductor" section of appsettings.json; ${env.NAME} values from any configuration source.
builder.Services.AddConductor()
    .AddOrderFulfilment(agents => agents.ShipOrder<ShipOrder>());
builder.Services.AddHealthChecks().AddConductor();

var app = builder.Build();

app.MapHealthChecks("/health");

// Runs the ensemble; its webhook is stored durably (App_Data/conductor-deliveries.db) before this returns and sent,
// signed and retried, by the background worker.
app.MapPost("/orders/{orderId}", async (string orderId, string customerEmail, OrderFulfilmentEnsemble ensemble) =>
{
    var run = await ensemble.RunAsync(new OrderFulfilmentEnsemble.Input { OrderId = orderId, CustomerEmail = customerEmail });
    return Results.Ok(new { status = run.Status.ToString(), trackingNumber = run.Output?.TrackingNumber });
});

app.Run();
