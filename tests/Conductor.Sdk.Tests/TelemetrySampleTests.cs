using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Issue #22 point 4: samples/Telemetry wires OpenTelemetry, and one order is one trace down to the receiver.</summary>
public sealed class TelemetrySampleTests
{
    [Fact]
    public async Task One_order_is_one_trace_from_the_request_through_the_attempt_to_the_receivers_span()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        var result = await TelemetrySample.TelemetryApp.RunAsync([], t => t.AddInMemoryExporter(spans), m => m.AddInMemoryExporter(metrics));

        // The spans of this order's trace (other tests' activities may be recorded by the same process-wide listener).
        var trace = spans.Where(a => a.TraceId.ToHexString() == result.TraceId).ToList();
        Activity Span(string name) => Assert.Single(trace, a => a.DisplayName == name);
        var order = Span("POST /orders");
        var dispatch = Span("conductor.dispatch");
        var attempt = Span("conductor.delivery.attempt");
        var hook = Span("POST /hooks");
        Assert.Equal(order.SpanId, dispatch.ParentSpanId);
        Assert.Equal(dispatch.SpanId, attempt.ParentSpanId);
        Assert.Equal(attempt.SpanId, hook.ParentSpanId); // joined through the webhook's traceparent header
        Assert.Equal($"00-{result.TraceId}-{attempt.SpanId.ToHexString()}-", result.WebhookTraceParent![..^2]);
        Assert.Equal("conductor.delivery.attempt", attempt.OperationName);
        Assert.Equal(ActivityKind.Client, attempt.Kind);

        // The meter is exported too: the delivery was counted as enqueued, attempted and delivered.
        long Sum(string name)
        {
            var sum = 0L;
            foreach (var metric in metrics.Where(m => m.Name == name))
            {
                foreach (ref readonly var point in metric.GetMetricPoints()) sum += point.GetSumLong();
            }

            return sum;
        }

        Assert.True(Sum("conductor.deliveries.enqueued") >= 1);
        Assert.True(Sum("conductor.deliveries.succeeded") >= 1);
        Assert.Contains(metrics, m => m.Name == "conductor.delivery.attempt.duration");
    }
}
