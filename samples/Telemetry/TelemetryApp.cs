using System.Diagnostics;
using System.Security.Cryptography;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using TelemetrySample.Ensembles;

namespace TelemetrySample;

/// <summary>
/// One web application that takes orders (POST /orders) and, as its own webhook receiver, accepts the notification
/// each order causes (POST /hooks). With OpenTelemetry wired as below, one order is one trace:
/// <c>POST /orders</c> → <c>conductor.dispatch</c> → <c>conductor.delivery.attempt</c> → <c>POST /hooks</c>, the last
/// one joined through the webhook's <c>traceparent</c> header.
/// </summary>
public static class TelemetryApp
{
    /// <summary>What one run saw: the order's trace id and the traceparent header the webhook arrived with.</summary>
    public sealed record Result(string TraceId, string? WebhookTraceParent);

    /// <summary>
    /// Starts the application, places one order, waits for its webhook, then stops (flushing the exporters).
    /// <paramref name="tracing"/> and <paramref name="metrics"/> add exporters; without them the console exporter is used,
    /// or OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    public static async Task<Result> RunAsync(string[] args, Action<TracerProviderBuilder>? tracing = null, Action<MeterProviderBuilder>? metrics = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        // ${env.TELEMETRY_RECEIVER} is checked when the host starts, so the address is chosen before: a free loopback port.
        var address = "http://127.0.0.1:" + FreePort();
        builder.WebHost.UseUrls(address);
        builder.Configuration["TELEMETRY_RECEIVER"] = address;
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

        // The wiring a Conductor.Sdk application needs: its meter and its activity source, both named "Conductor.Sdk".
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("conductor-telemetry-sample"))
            .WithTracing(t =>
            {
                t.AddSource(ConductorTelemetry.Name).AddAspNetCoreInstrumentation();
                if (tracing is not null) tracing(t);
                else if (otlp) t.AddOtlpExporter();
                else t.AddConsoleExporter();
            })
            .WithMetrics(m =>
            {
                m.AddMeter(ConductorTelemetry.Name);
                if (metrics is not null) metrics(m);
                else if (otlp) m.AddOtlpExporter();
                else m.AddConsoleExporter();
            });

        var webhook = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        builder.Configuration["TELEMETRY_WEBHOOK_SECRET"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")) // the receiver is this very app
            .UseInMemoryStore()
            .AddEnsembles();

        await using var app = builder.Build();
        app.MapPost("/orders", async (OrdersEnsemble orders) =>
        {
            // Inside the request's span: the delivery stores this trace and its attempt continues it.
            var receipt = await orders.Notify.ExecutionCompletedAsync("order-" + Guid.NewGuid().ToString("N")[..8], new OrdersEnsemble.Output(), TimeSpan.FromMilliseconds(42));
            return Results.Text($"trace {Activity.Current?.TraceId.ToHexString()}, delivery {receipt.DeliveryIds.Single()}");
        });
        app.MapPost("/hooks", (HttpRequest request) =>
        {
            webhook.TrySetResult(request.Headers.TraceParent.ToString());
            return Results.NoContent();
        });

        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            using var response = await client.PostAsync("/orders", content: null);
            response.EnsureSuccessStatusCode();
            var body = await response.Content.ReadAsStringAsync();
            var traceParent = await webhook.Task.WaitAsync(TimeSpan.FromSeconds(30));
            // Let the attempt see its response and record its outcome (and count it) before the host stops.
            await app.Services.GetRequiredService<DeliveryProcessor>().WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return new Result(body["trace ".Length..body.IndexOf(',', StringComparison.Ordinal)], traceParent);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }
}
