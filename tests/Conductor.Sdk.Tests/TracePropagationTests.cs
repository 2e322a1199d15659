using System.Collections.Concurrent;
using System.Diagnostics;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Issue #22 point 4: the trace of the code calling Notify continues into the attempt and the webhook's traceparent.</summary>
public sealed class TracePropagationTests
{
    /// <summary>The application's own source: the span inside which it calls Notify (an HTTP request, a job).</summary>
    private static readonly ActivitySource Checkout = new("Acme.Checkout.Tests");

    private static IHost BuildHost(string store, Receiver receiver, string ensemble, bool propagate = true)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddConductor(o =>
        {
            o.AllowedNetworks.Add("127.0.0.1/32");
            o.PropagateTraceContext = propagate;
        }).UseSqlite(store).AddNotification(new WebhookNotificationDefinition(ensemble, 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }));
        return builder.Build();
    }

    private static ActivityListener Listen(Func<string, bool> sources, ConcurrentBag<Activity>? stopped = null)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => sources(source.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => stopped?.Add(a),
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static async Task<(string TraceId, string Parent)> NotifyInsideCheckoutAsync(IHost host, string ensemble)
    {
        using var checkout = Checkout.StartActivity("POST /checkout", ActivityKind.Server)!;
        await host.Services.GetRequiredService<NotificationDispatcher>().DispatchAsync(new ExecutionCompleted(DateTimeOffset.UtcNow, ensemble, "exec-1", null, 3));
        return (checkout.TraceId.ToHexString(), checkout.SpanId.ToHexString());
    }

    [Fact]
    public async Task The_attempt_is_a_span_of_the_callers_trace_and_the_webhook_carries_its_traceparent()
    {
        using var root = new TempDirectory("conductor-trace");
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        var stopped = new ConcurrentBag<Activity>();
        using var listener = Listen(name => name is "Acme.Checkout.Tests" or ConductorTelemetry.Name, stopped);
        using var host = BuildHost(root.File("deliveries.db"), receiver, "traced-orders");
        await host.StartAsync();

        var (traceId, _) = await NotifyInsideCheckoutAsync(host, "traced-orders");
        await receiver.WaitForAsync(1);
        await host.StopAsync();

        var header = receiver.Requests.Single().Header("traceparent");
        var parts = header.Split('-');
        Assert.Equal(("00", traceId), (parts[0], parts[1]));
        AssertSampled(parts[3]);
        // The receiver's parent span is the attempt, which belongs to the caller's trace.
        var attempt = stopped.Single(a => a.OperationName == "conductor.delivery.attempt" && a.TraceId.ToHexString() == traceId);
        Assert.Equal(attempt.SpanId.ToHexString(), parts[2]);
        var dispatch = stopped.Single(a => a.OperationName == "conductor.dispatch" && a.TraceId.ToHexString() == traceId);
        Assert.Equal(dispatch.SpanId, attempt.ParentSpanId);
    }

    [Fact]
    public async Task The_trace_survives_a_restart_because_it_is_stored_with_the_delivery()
    {
        using var root = new TempDirectory("conductor-trace");
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        // Only the application's source is recorded: Conductor's own spans are not, so the header comes from the store.
        using var listener = Listen(name => name == "Acme.Checkout.Tests");
        string traceId, parent;
        using (var first = BuildHost(root.File("deliveries.db"), receiver, "restarted-orders"))
        {
            (traceId, parent) = await NotifyInsideCheckoutAsync(first, "restarted-orders"); // stored; this host never starts its worker
        }

        using var second = BuildHost(root.File("deliveries.db"), receiver, "restarted-orders");
        await second.StartAsync();
        await receiver.WaitForAsync(1);
        await second.StopAsync();

        var header = receiver.Requests.Single().Header("traceparent");
        Assert.Equal($"00-{traceId}-{parent}-", header[..^2]);
        AssertSampled(header[^2..]);
    }

    [Fact]
    public async Task With_PropagateTraceContext_off_no_trace_header_is_sent()
    {
        using var root = new TempDirectory("conductor-trace");
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        using var listener = Listen(name => name is "Acme.Checkout.Tests" or ConductorTelemetry.Name);
        using var host = BuildHost(root.File("deliveries.db"), receiver, "untraced-orders", propagate: false);
        await host.StartAsync();

        await NotifyInsideCheckoutAsync(host, "untraced-orders");
        await receiver.WaitForAsync(1);
        await host.StopAsync();

        var request = receiver.Requests.Single();
        Assert.False(request.Headers.ContainsKey("traceparent"), "traceparent was sent although PropagateTraceContext is off");
        Assert.False(request.Headers.ContainsKey("tracestate"));
        Assert.Null((await StoredAsync(root)).TraceParent);
    }

    /// <summary>The sampled bit of W3C trace flags (other bits, such as "random trace id", depend on who else listens in the process).</summary>
    private static void AssertSampled(string flags) => Assert.True((Convert.ToInt32(flags, 16) & 1) == 1, $"trace flags {flags} are not sampled");

    private static async Task<DeliveryRecord> StoredAsync(TempDirectory root)
    {
        await using var store = new Sqlite.SqliteDeliveryStore(root.File("deliveries.db"));
        return (await store.ListAsync(new DeliveryQuery())).Single();
    }
}
