using System;
using System.Collections.Generic;
using System.Linq;

namespace Conductor.Sdk.Model
{
    /// <summary>One lifecycle event and the fields its <c>data</c> object carries (DESIGN.md section 4).</summary>
    public sealed record EventInfo(string Name, IReadOnlyList<string> DataFields, string Description);

    /// <summary>The six events an ensemble emits, and the data each one carries.</summary>
    public static class EventCatalog
    {
        /// <summary><c>execution.started</c></summary>
        public const string ExecutionStarted = "execution.started";
        /// <summary><c>execution.completed</c></summary>
        public const string ExecutionCompleted = "execution.completed";
        /// <summary><c>execution.failed</c></summary>
        public const string ExecutionFailed = "execution.failed";
        /// <summary><c>execution.timeout</c></summary>
        public const string ExecutionTimeout = "execution.timeout";
        /// <summary><c>agent.completed</c></summary>
        public const string AgentCompleted = "agent.completed";
        /// <summary><c>state.updated</c></summary>
        public const string StateUpdated = "state.updated";

        /// <summary>Every event, in lifecycle order.</summary>
        public static IReadOnlyList<EventInfo> All { get; } = new[]
        {
            new EventInfo(ExecutionStarted, new[] { "ensemble", "id", "input" }, "Triggered when ensemble execution begins"),
            new EventInfo(ExecutionCompleted, new[] { "ensemble", "id", "status", "output", "duration" }, "Triggered when execution completes successfully"),
            new EventInfo(ExecutionFailed, new[] { "ensemble", "id", "status", "error", "duration" }, "Triggered when execution fails with an error"),
            new EventInfo(ExecutionTimeout, new[] { "ensemble", "id", "duration", "timeout" }, "Triggered when execution exceeds its timeout"),
            new EventInfo(AgentCompleted, new[] { "ensemble", "executionId", "agent", "output", "duration" }, "Triggered when an individual agent completes"),
            new EventInfo(StateUpdated, new[] { "ensemble", "executionId", "state" }, "Triggered when ensemble state changes"),
        };

        /// <summary><c>endpoint.failing</c></summary>
        public const string EndpointFailing = "endpoint.failing";
        /// <summary><c>endpoint.disabled</c></summary>
        public const string EndpointDisabled = "endpoint.disabled";
        /// <summary><c>endpoint.enabled</c></summary>
        public const string EndpointEnabled = "endpoint.enabled";
        /// <summary><c>delivery.dead-lettered</c></summary>
        public const string DeliveryDeadLettered = "delivery.dead-lettered";

        /// <summary>
        /// The operational events: raised by the delivery machinery, not by an ensemble's run (no Notify method), and sent
        /// to every ensemble's notifications that subscribe to them.
        /// </summary>
        public static IReadOnlyList<EventInfo> Operational { get; } = new[]
        {
            new EventInfo(EndpointFailing, new[] { "ensemble", "endpoint", "state", "since", "failedAttempts", "lastError" }, "Triggered when every attempt to an endpoint starts failing"),
            new EventInfo(EndpointDisabled, new[] { "ensemble", "endpoint", "state", "since", "reason", "failedAttempts", "lastError" }, "Triggered when an endpoint is disabled (after failing for Conductor:Endpoints:DisableAfter, or by an operator)"),
            new EventInfo(EndpointEnabled, new[] { "ensemble", "endpoint", "state", "since" }, "Triggered when a disabled endpoint is enabled again"),
            new EventInfo(DeliveryDeadLettered, new[] { "ensemble", "endpoint", "deliveryId", "sourceEnsemble", "event", "notification", "channel", "attempts", "statusCode", "lastError" }, "Triggered when a delivery fails for good"),
        };

        /// <summary>Every event a notification may subscribe to: the lifecycle events, then the operational ones.</summary>
        public static IReadOnlyList<EventInfo> Known { get; } = new List<EventInfo>(All).Concat(Operational).ToArray();

        /// <summary>Every name of <see cref="Known"/>.</summary>
        public static IReadOnlyList<string> KnownNames { get; } = Known.Select(e => e.Name).ToArray();

        /// <summary>Fields of <c>data.error</c> on <c>execution.failed</c>.</summary>
        public static IReadOnlyList<string> ErrorFields { get; } = new[] { "message", "type", "stack" };

        /// <summary>Every event name.</summary>
        public static IReadOnlyList<string> Names { get; } = Array.ConvertAll((EventInfo[])All, e => e.Name);

        /// <summary>Looks up an event by its exact name.</summary>
        public static EventInfo? Find(string name)
        {
            foreach (var info in Known)
            {
                if (string.Equals(info.Name, name, StringComparison.Ordinal)) return info;
            }

            return null;
        }
    }
}
