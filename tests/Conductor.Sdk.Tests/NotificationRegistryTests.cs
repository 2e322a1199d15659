using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Xunit;

namespace Conductor.Sdk.Tests;

public sealed class NotificationRegistryTests
{
    private sealed record Stub(string Ensemble, int Index, string[] On) : NotificationDefinition(Ensemble, Index, On)
    {
        public override string Channel => "webhook";
        public override int Retries => 0;
    }

    [Fact]
    public void Each_event_reaches_its_ensembles_subscribers_in_registration_order_and_nothing_else()
    {
        var registry = new NotificationRegistry(new NotificationDefinition[]
        {
            new Stub("orders", 2, [EventNames.ExecutionCompleted, EventNames.ExecutionFailed]),
            new Stub("orders", 0, [EventNames.ExecutionFailed]),
            new Stub("orders", 1, [EventNames.ExecutionCompleted]),
            new Stub("invoices", 0, [EventNames.ExecutionCompleted]),
        });

        Assert.Equal(["orders#2", "orders#1"], registry.ForEvent("orders", EventNames.ExecutionCompleted).Select(n => n.Key));
        Assert.Equal(["orders#2", "orders#0"], registry.ForEvent("orders", EventNames.ExecutionFailed).Select(n => n.Key));
        Assert.Equal(["invoices#0"], registry.ForEvent("invoices", EventNames.ExecutionCompleted).Select(n => n.Key));
        Assert.Empty(registry.ForEvent("orders", EventNames.StateUpdated));
        Assert.Empty(registry.ForEvent("unknown", EventNames.ExecutionCompleted));
        Assert.Equal("eventName", Assert.Throws<ArgumentNullException>(() => registry.ForEvent("orders", null!)).ParamName);
    }
}
