using System.Security.Cryptography;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Runner;
using Quickstart;
using Quickstart.Ensembles;

// Conductor.Sdk Quickstart: no configuration needed. It
//   1. starts a webhook receiver on 127.0.0.1 that verifies every signature (LocalReceiver.cs),
//   2. starts a host with AddConductor(): SQLite store in ~/.local/share/Conductor/Quickstart/, file email provider in its mail/,
//   3. runs three ensembles compiled from ensembles/quickstart/*.yaml: one completes, one fails, one's webhook
//      is retried,
//   4. waits until every delivery is settled and prints them with their attempts and outcomes.
// With --dashboard it then keeps running and serves the delivery dashboard (MapConductorDashboard) at
// http://127.0.0.1:5080/conductor (QUICKSTART_DASHBOARD_URL to change it) until Ctrl+C.
// The classes used here (OrderFulfilmentEnsemble, AddOrderFulfilment, ...) are generated at build time from the
// YAML; the build also shows the warnings of the product description's examples in ensembles/product-description.

var conductorSecret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
var standardSecret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
await using var receiver = await LocalReceiver.StartAsync(conductorSecret, standardSecret);

var dashboard = args.Contains("--dashboard");
var dashboardUrl = Environment.GetEnvironmentVariable("QUICKSTART_DASHBOARD_URL") ?? "http://127.0.0.1:5080";
// The dashboard needs a web server; without it the Quickstart is a plain host. Both builders share this setup.
IHostApplicationBuilder builder = dashboard
    ? WebApplication.CreateBuilder(new WebApplicationOptions { Args = args.Where(a => a != "--dashboard").ToArray(), EnvironmentName = Environments.Development })
    : Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Conductor.Sdk", LogLevel.None); // the table below tells the story; failures are expected here
// What ${env.NAME} reads: the embedded defaults of this sample (a real app uses appsettings, environment variables
// or a secret store).
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["QUICKSTART_RECEIVER"] = receiver.BaseAddress,
    ["QUICKSTART_WEBHOOK_SECRET"] = conductorSecret,
    ["QUICKSTART_STANDARD_SECRET"] = standardSecret,
});
builder.Services.AddConductor(options => options.AllowedNetworks.Add("127.0.0.1/32")) // the receiver is local: allow it explicitly
    .AddOrderFulfilment(agents => agents.ReserveStock<ReserveStock>().ShipOrder<ShipOrder>())
    .AddInvoiceSync(agents => agents.PushInvoices<PushInvoices>())
    .AddInventoryReport(agents => agents.CountStock<CountStock>());

if (builder is WebApplicationBuilder webBuilder)
{
    webBuilder.WebHost.UseUrls(dashboardUrl);
    webBuilder.Services.AddAntiforgery();
}

using var host = builder is WebApplicationBuilder web ? WithDashboard(web.Build()) : ((HostApplicationBuilder)builder).Build();
await host.StartAsync();
var services = host.Services;
var store = services.GetRequiredService<IDeliveryStore>();
var registry = services.GetRequiredService<NotificationRegistry>();
var started = services.GetRequiredService<TimeProvider>().GetUtcNow().AddMilliseconds(-1);

Console.WriteLine("Conductor.Sdk Quickstart");
Console.WriteLine($"  receiver : {receiver.BaseAddress} (verifies X-Conductor-Signature and Standard Webhooks signatures)");
var storePath = SqliteConductorBuilderExtensions.DefaultPath(services);
Console.WriteLine($"  store    : {storePath}");
Console.WriteLine($"  email    : {Path.Combine(Path.GetDirectoryName(storePath)!, "mail")} (file provider)");
Console.WriteLine();

var order = await services.GetRequiredService<OrderFulfilmentEnsemble>().RunAsync(new OrderFulfilmentEnsemble.Input
{
    OrderId = "A-1001",
    CustomerEmail = "ada@example.com",
    Priority = OrderFulfilmentEnsemble.InputPriority.Express,
    Items = [new() { Sku = "SKU-42", Quantity = 2 }, new() { Sku = "SKU-7", Quantity = 1 }],
});
Console.WriteLine($"order-fulfilment  {order.Status,-9} output: trackingNumber={order.Output?.TrackingNumber}, shippedAt={order.Output?.ShippedAt:O}, emailed={order.Output?.Emailed}");
var invoices = await services.GetRequiredService<InvoiceSyncEnsemble>().RunAsync();
Console.WriteLine($"invoice-sync      {invoices.Status,-9} error: {invoices.Error?.Type}: {invoices.Error?.Message}");
var inventory = await services.GetRequiredService<InventoryReportEnsemble>().RunAsync();
Console.WriteLine($"inventory-report  {inventory.Status,-9} output: items={inventory.Output?.Items}");
Console.WriteLine();

// Deliveries are made by the background worker; wait until none of this run's is pending (the retry is due 1 s
// after the first attempt).
IReadOnlyList<DeliveryRecord> deliveries;
var deadline = DateTime.UtcNow.AddSeconds(60);
while (true)
{
    deliveries = await store.ListAsync(new DeliveryQuery(Since: started, Limit: 1000));
    if (deliveries.All(d => d.Status != DeliveryStatus.Pending) || DateTime.UtcNow > deadline) break;
    await Task.Delay(200);
}

Console.WriteLine("Deliveries");
Console.WriteLine($"  {"Id",-36}  {"Ensemble",-17} {"Event",-24} {"Channel",-8} {"Destination",-25} {"Attempts",8}  Outcome");
foreach (var d in deliveries.OrderBy(d => d.Ensemble, StringComparer.Ordinal).ThenBy(d => d.CreatedAt).ThenBy(d => d.Event, StringComparer.Ordinal))
{
    var destination = registry.Find(d.NotificationKey) switch
    {
        WebhookNotificationDefinition webhook => webhook.Url.AbsolutePath,
        _ => d.Endpoint,
    };
    var outcome = d.Status switch
    {
        DeliveryStatus.Delivered => "delivered" + (d.LastStatusCode is int code ? $" ({code})" : ""),
        DeliveryStatus.DeadLettered => $"dead-lettered ({d.LastStatusCode?.ToString() ?? d.LastErrorKind.ToString()}: {d.LastError})",
        _ => "pending",
    };
    Console.WriteLine($"  {d.Id,-36}  {d.Ensemble,-17} {d.Event,-24} {d.Channel,-8} {destination,-25} {d.Attempts,8}  {outcome}");
}

Console.WriteLine();
Console.WriteLine($"Receiver: {receiver.Received.Count} signed requests verified");
foreach (var r in receiver.Received)
{
    Console.WriteLine($"  verified {r.DeliveryId}  {r.Path,-25} {r.Event,-20} attempt {r.Attempt} -> {r.Status}");
}

if (dashboard)
{
    Console.WriteLine();
    Console.WriteLine($"Dashboard: {dashboardUrl.TrimEnd('/')}/conductor (replay the dead letter there; Ctrl+C to stop)");
    await host.WaitForShutdownAsync();
}

await host.StopAsync();

// The expected story: completed, failed, completed; the 410 endpoint dead-lettered; everything else delivered, and
// every webhook delivery seen (signed) by the receiver.
var webhooks = deliveries.Where(d => d.Channel == "webhook").ToList();
var ok = order.Status == ExecutionStatus.Completed
    && invoices.Status == ExecutionStatus.Failed
    && inventory.Status == ExecutionStatus.Completed
    && deliveries.Count > 0
    && deliveries.All(d => d.Status == DeliveryStatus.Delivered || d.LastStatusCode == 410)
    && webhooks.All(d => receiver.Received.Any(r => r.DeliveryId == d.Id))
    && webhooks.Any(d => d.Attempts > 1);
Console.WriteLine();
Console.WriteLine(ok ? "Quickstart finished: every outcome is as expected." : "Quickstart finished with unexpected outcomes (see above).");
return ok ? 0 : 1;

// Local development only: anonymous access is honoured in the Development environment alone. A real application sets
// an authorization policy (o.AuthorizationPolicy = "ops").
static WebApplication WithDashboard(WebApplication app)
{
    app.MapConductorDashboard("/conductor", o => o.AllowAnonymousInDevelopment = true);
    return app;
}
