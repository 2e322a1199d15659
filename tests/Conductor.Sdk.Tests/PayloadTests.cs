using System.Text;
using System.Text.Json;
using Conductor.Sdk.Events;
using Xunit;

namespace Conductor.Sdk.Tests;

public sealed class PayloadTests
{
    [Fact]
    public void The_run_input_is_never_in_the_webhook_body_but_travels_with_rendering_deliveries()
    {
        var input = Conductor.Sdk.Ensembles.JsonValues.Object(("userId", "user-42"));
        var @event = new ExecutionCompleted(new DateTimeOffset(2024, 1, 15, 10, 30, 0, TimeSpan.Zero), "orders", "exec-1", null, 5) { RunInput = input };

        var wire = Encoding.UTF8.GetString(EventPayload.Serialize(@event));
        var stored = EventPayload.SerializeForRendering(@event);

        Assert.Equal("""{"event":"execution.completed","timestamp":"2024-01-15T10:30:00.000Z","data":{"ensemble":"orders","id":"exec-1","status":"completed","output":null,"duration":5}}""", wire);
        Assert.Equal(wire[..^1] + ""","runInput":{"userId":"user-42"}}""", Encoding.UTF8.GetString(stored));
        var parsed = EventPayload.Deserialize(stored);
        Assert.Equal("""{"userId":"user-42"}""", parsed.RunInput!.Value.GetRawText());
        Assert.Equal(wire, Encoding.UTF8.GetString(EventPayload.Serialize(parsed)));
        Assert.Null(EventPayload.Deserialize(Encoding.UTF8.GetBytes(wire)).RunInput);
    }

    private static readonly DateTimeOffset At = new(2024, 1, 15, 10, 30, 15, TimeSpan.Zero);

    private static string Body(ConductorEvent e) => Encoding.UTF8.GetString(EventPayload.Serialize(e));

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void Every_event_has_the_exact_wire_shape()
    {
        Assert.Equal(
            """{"event":"execution.started","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"user-onboarding","id":"exec-1","input":{"userId":"u1"}}}""",
            Body(new ExecutionStarted(At, "user-onboarding", "exec-1", Json("""{"userId":"u1"}"""))));
        Assert.Equal(
            """{"event":"execution.completed","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"user-onboarding","id":"exec-abc123","status":"completed","output":{"userId":"user_xyz789"},"duration":1234}}""",
            Body(new ExecutionCompleted(At, "user-onboarding", "exec-abc123", Json("""{"userId":"user_xyz789"}"""), 1234)));
        Assert.Equal(
            """{"event":"execution.failed","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"e","id":"x","status":"failed","error":{"message":"boom \"quoted\"","type":"System.InvalidOperationException"},"duration":5}}""",
            Body(new ExecutionFailed(At, "e", "x", ErrorInfo.From(new InvalidOperationException("boom \"quoted\"")), 5)));
        Assert.Equal(
            """{"event":"execution.timeout","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"e","id":"x","duration":30001,"timeout":30000}}""",
            Body(new ExecutionTimedOut(At, "e", "x", 30001, 30000)));
        Assert.Equal(
            """{"event":"agent.completed","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"e","executionId":"x","agent":"check-health","output":null,"duration":7}}""",
            Body(new AgentCompleted(At, "e", "x", "check-health", null, 7)));
        Assert.Equal(
            """{"event":"state.updated","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"e","executionId":"x","state":{"step":2}}}""",
            Body(new StateUpdated(At, "e", "x", Json("""{"step":2}"""))));
    }

    [Fact]
    public void Timestamps_are_utc_with_milliseconds()
    {
        var local = new DateTimeOffset(2024, 1, 15, 11, 30, 15, 42, TimeSpan.FromHours(1));
        Assert.Equal("2024-01-15T10:30:15.042Z", EventPayload.FormatTimestamp(local));
    }
}

public sealed class ReflectionFreeSerializationTests
{
    [Fact]
    public void Reflection_based_serialization_is_disabled_in_this_test_assembly()
    {
        // Guard for the payload tests above: if this did not throw, they would not prove anything about reflection.
        Assert.Throws<InvalidOperationException>(() => System.Text.Json.JsonSerializer.Serialize(new { a = 1 }));
    }

    [Fact]
    public void Error_details_keep_the_stack_only_when_asked()
    {
        var error = Conductor.Sdk.Events.ErrorInfo.From(new TimeoutException("slow"), includeStack: false);
        var body = System.Text.Encoding.UTF8.GetString(Conductor.Sdk.Events.EventPayload.Serialize(
            new Conductor.Sdk.Events.ExecutionFailed(DateTimeOffset.UnixEpoch, "e", "x", error, 1)));
        Assert.Contains("\"error\":{\"message\":\"slow\",\"type\":\"System.TimeoutException\"}", body);
    }

    [Fact]
    public void The_body_timestamp_is_utc_with_milliseconds_for_any_instant()
    {
        var random = new Random(20240115);
        var instants = new[] { DateTimeOffset.MinValue, DateTimeOffset.MaxValue, new DateTimeOffset(2024, 1, 15, 10, 30, 0, 7, TimeSpan.FromHours(-5)) }
            .Concat(Enumerable.Range(0, 2000).Select(_ => new DateTimeOffset(random.NextInt64(DateTimeOffset.MinValue.Ticks, DateTimeOffset.MaxValue.Ticks), TimeSpan.Zero)));
        Span<char> written = stackalloc char[24];
        foreach (var instant in instants)
        {
            EventPayload.FormatTimestamp(instant, written);
            Assert.Equal(instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture), written.ToString());
        }

        EventPayload.FormatTimestamp(new DateTimeOffset(2024, 1, 15, 10, 30, 0, 7, TimeSpan.FromHours(-5)), written);
        Assert.Equal("2024-01-15T15:30:00.007Z", written.ToString());
    }
}

public sealed class JsonScratchTests
{
    [Fact]
    public void A_record_written_after_a_failed_write_on_the_same_thread_is_exact()
    {
        var at = new Conductor.Sdk.Ensembles.DataLocation("order-pipeline", "output");
        // Fails half-way through the object: the thread's writer is left mid-object.
        Assert.Throws<Conductor.Sdk.Ensembles.EnsembleDataException>(() =>
            Conductor.Sdk.Ensembles.EnsembleJson.ToElement(new Conductor.Sdk.Tests.Ensembles.OrderPipelineEnsemble.ChargeCardOutput { Receipt = "r-1", Carrier = null! }, at));

        var element = Conductor.Sdk.Ensembles.EnsembleJson.ToElement(new Conductor.Sdk.Tests.Ensembles.OrderPipelineEnsemble.ShipOrderOutput { TrackingNumber = "1Z+\"é" }, at);
        var again = Conductor.Sdk.Ensembles.EnsembleJson.ToElement(new Conductor.Sdk.Tests.Ensembles.OrderPipelineEnsemble.ShipOrderOutput { TrackingNumber = "2" }, at);

        // Each element owns its bytes: the second use of the thread's buffer does not change the first element.
        Assert.Equal("1Z+\"é", element.GetProperty("trackingNumber").GetString());
        Assert.Equal("""{"trackingNumber":"2"}""", again.GetRawText());
        Assert.Equal(
            """{"event":"execution.completed","timestamp":"2024-01-15T10:30:15.000Z","data":{"ensemble":"e","id":"x","status":"completed","output":{"trackingNumber":"1Z+\"é"},"duration":1}}""",
            System.Text.Encoding.UTF8.GetString(EventPayload.Serialize(new ExecutionCompleted(new DateTimeOffset(2024, 1, 15, 10, 30, 15, TimeSpan.Zero), "e", "x", element, 1))));
    }

    [Fact]
    public void A_nested_use_gets_its_own_writer_and_a_grown_buffer_is_not_kept()
    {
        JsonScratch? slot = null;
        var outer = JsonScratch.Rent(ref slot, default);
        Assert.Same(outer, slot);
        outer.Writer.WriteStartObject();
        var inner = JsonScratch.Rent(ref slot, default);
        Assert.NotSame(outer, inner);
        inner.Writer.WriteStringValue("inner");
        Assert.Equal("\"inner\"", System.Text.Encoding.UTF8.GetString(inner.Written));
        inner.Return(ref slot);
        outer.Writer.WriteEndObject();
        Assert.Equal("{}", System.Text.Encoding.UTF8.GetString(outer.Written));
        outer.Return(ref slot);
        Assert.Same(outer, slot);

        // The next use starts empty, on the same instance.
        var next = JsonScratch.Rent(ref slot, default);
        Assert.Same(outer, next);
        Assert.Equal(0, next.Written.Length);
        next.Writer.WriteStringValue(new string('x', JsonScratch.MaxRetainedBytes + 1));
        Assert.True(next.Written.Length > JsonScratch.MaxRetainedBytes);
        next.Return(ref slot);
        Assert.Null(slot);
    }
}
