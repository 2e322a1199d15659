using System.Text.Json;
using Conductor.Sdk.Delivery;

namespace Conductor.Sdk.Events;

/// <summary>
/// The names of the operational events: what the delivery machinery itself reports, as opposed to an ensemble's
/// lifecycle events. YAML notifications subscribe to them like to any event (<c>events: [endpoint.disabled]</c>).
/// </summary>
public static class OperationalEventNames
{
    /// <summary>An endpoint's attempts started failing (every attempt since failed).</summary>
    public const string EndpointFailing = "endpoint.failing";
    /// <summary>An endpoint was disabled (automatically after failing, or by an operator).</summary>
    public const string EndpointDisabled = "endpoint.disabled";
    /// <summary>A disabled endpoint was enabled again.</summary>
    public const string EndpointEnabled = "endpoint.enabled";
    /// <summary>A delivery failed for good (a permanent failure, or its retries ran out).</summary>
    public const string DeliveryDeadLettered = "delivery.dead-lettered";

    /// <summary>All four.</summary>
    public static IReadOnlyList<string> All { get; } = new[] { EndpointFailing, EndpointDisabled, EndpointEnabled, DeliveryDeadLettered };

    internal static bool Contains(string name) =>
        name is EndpointFailing or EndpointDisabled or EndpointEnabled or DeliveryDeadLettered;
}

/// <summary>
/// One operational event, as C# observers (<see cref="IOperationalEventObserver"/>) receive it.
/// </summary>
/// <param name="Name">One of <see cref="OperationalEventNames"/>.</param>
/// <param name="Timestamp">When it happened.</param>
/// <param name="Endpoint">The endpoint concerned (for a dead letter: its delivery's endpoint).</param>
/// <param name="State">The endpoint's state after the change (endpoint events), or null.</param>
/// <param name="Delivery">The dead-lettered delivery (<c>delivery.dead-lettered</c>), or null.</param>
/// <param name="Attempt">The attempt that dead-lettered it, or null.</param>
public sealed record OperationalEvent(string Name, DateTimeOffset Timestamp, string Endpoint, EndpointState? State = null, DeliveryRecord? Delivery = null, AttemptLog? Attempt = null)
{
    /// <summary>The event's <c>data</c> object for a notification of <paramref name="ensemble"/> (the fields of EventCatalog).</summary>
    internal JsonElement Data(string ensemble)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("ensemble", ensemble);
            w.WriteString("endpoint", Endpoint);
            switch (Name)
            {
                case OperationalEventNames.DeliveryDeadLettered when Delivery is { } d:
                    w.WriteString("deliveryId", d.Id);
                    w.WriteString("sourceEnsemble", d.Ensemble);
                    w.WriteString("event", d.Event);
                    w.WriteString("notification", d.NotificationKey);
                    w.WriteString("channel", d.Channel);
                    w.WriteNumber("attempts", Attempt?.Number ?? d.Attempts);
                    if (Attempt?.StatusCode is int code) w.WriteNumber("statusCode", code);
                    else w.WriteNull("statusCode");
                    w.WriteString("lastError", Attempt?.Error ?? d.LastError);
                    break;
                default:
                    var state = State ?? new EndpointState(Endpoint, EndpointHealth.Healthy, null, 0, 0, null, null, null, null, Timestamp);
                    w.WriteString("state", state.Health.ToString().ToLowerInvariant());
                    w.WriteString("since", EventPayload.FormatTimestamp(
                        (Name == OperationalEventNames.EndpointDisabled ? state.DisabledAt : Name == OperationalEventNames.EndpointFailing ? state.FailingSince : null) ?? Timestamp));
                    if (Name == OperationalEventNames.EndpointDisabled) w.WriteString("reason", state.DisabledReason);
                    if (Name != OperationalEventNames.EndpointEnabled)
                    {
                        w.WriteNumber("failedAttempts", state.FailedAttempts);
                        w.WriteString("lastError", state.LastError);
                    }

                    break;
            }

            w.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }
}

/// <summary>
/// Receives every operational event of this process, in order, on a background loop (never on the delivery path). An
/// observer that throws is logged and does not stop the others. Register one with
/// <c>services.AddSingleton&lt;IOperationalEventObserver, MyObserver&gt;()</c>.
/// </summary>
public interface IOperationalEventObserver
{
    /// <summary>Handles one event.</summary>
    ValueTask OnEventAsync(OperationalEvent operationalEvent, CancellationToken cancellationToken);
}

/// <summary>
/// An operational event as a notification of one ensemble sends it: <c>data</c> is <see cref="Data"/> (which starts with
/// that ensemble's name, like every event's data).
/// </summary>
public sealed record OperationalNotificationEvent(DateTimeOffset Timestamp, string EventName, string EnsembleName, JsonElement Data) : ConductorEvent(Timestamp)
{
    /// <inheritdoc />
    public override string Name => EventName;

    /// <inheritdoc />
    public override string Ensemble => EnsembleName;
}
