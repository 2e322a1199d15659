using System.Text.Json;
using Conductor.Sdk.Ensembles;
using Conductor.Sdk.Runner;

namespace Quickstart;

/// <summary>order-fulfilment, step 1: reserves the items (and records the stage in the run's shared state).</summary>
public sealed class ReserveStock : IAgent
{
    public ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken)
    {
        context.State.Set("stage", "reserved");
        return ValueTask.FromResult<JsonElement?>(JsonValues.Object(("reserved", true), ("warehouse", "AMS-1")));
    }
}

/// <summary>order-fulfilment, step 2 (runs only when the stock was reserved): books the carrier.</summary>
public sealed class ShipOrder : IAgent
{
    public ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken)
    {
        var orderId = context.Input?.GetProperty("orderId").GetString();
        return ValueTask.FromResult<JsonElement?>(JsonValues.Object(("trackingNumber", "1Z-" + orderId)));
    }
}

/// <summary>invoice-sync: the accounting system refuses the batch, so the run fails.</summary>
public sealed class PushInvoices : IAgent
{
    public ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("the ledger for period 2024-01 is closed; invoices were not pushed");
}

/// <summary>inventory-report: counts the stock.</summary>
public sealed class CountStock : IAgent
{
    public ValueTask<JsonElement?> RunAsync(AgentContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult<JsonElement?>(JsonValues.Object(("items", 1284)));
}
