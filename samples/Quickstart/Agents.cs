using Conductor.Sdk.Runner;
using Quickstart.Ensembles;

namespace Quickstart;

// The agents implement the contracts generated from the YAML: each receives the ensemble's declared input and
// returns its step's declared output, so a renamed field is a compile error here as well as in the YAML.

/// <summary>order-fulfilment, step 1: reserves the items (and records the stage in the run's shared state).</summary>
public sealed class ReserveStock : OrderFulfilmentEnsemble.IReserveStockAgent
{
    public ValueTask<OrderFulfilmentEnsemble.ReserveStockOutput> RunAsync(OrderFulfilmentEnsemble.Input input, AgentContext context, CancellationToken cancellationToken)
    {
        context.State.Set("stage", "reserved");
        var reserved = input.Items.All(item => item.Quantity > 0);
        return ValueTask.FromResult(new OrderFulfilmentEnsemble.ReserveStockOutput { Reserved = reserved, Warehouse = "AMS-1" });
    }
}

/// <summary>order-fulfilment, step 2 (runs only when the stock was reserved): books the carrier.</summary>
public sealed class ShipOrder(TimeProvider time) : OrderFulfilmentEnsemble.IShipOrderAgent
{
    public ValueTask<OrderFulfilmentEnsemble.ShipOrderOutput> RunAsync(OrderFulfilmentEnsemble.Input input, AgentContext context, CancellationToken cancellationToken)
    {
        var carrier = input.Priority == OrderFulfilmentEnsemble.InputPriority.Express ? "DHL Express" : "PostNL";
        return ValueTask.FromResult(new OrderFulfilmentEnsemble.ShipOrderOutput
        {
            TrackingNumber = "1Z-" + input.OrderId,
            Carrier = carrier,
            ShippedAt = time.GetUtcNow(),
        });
    }
}

/// <summary>invoice-sync: the accounting system refuses the batch, so the run fails.</summary>
public sealed class PushInvoices : InvoiceSyncEnsemble.IPushInvoicesAgent
{
    public ValueTask<InvoiceSyncEnsemble.PushInvoicesOutput> RunAsync(System.Text.Json.JsonElement? input, AgentContext context, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("the ledger for period 2024-01 is closed; invoices were not pushed");
}

/// <summary>inventory-report: counts the stock.</summary>
public sealed class CountStock : InventoryReportEnsemble.ICountStockAgent
{
    public ValueTask<InventoryReportEnsemble.CountStockOutput> RunAsync(System.Text.Json.JsonElement? input, AgentContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new InventoryReportEnsemble.CountStockOutput { Items = 1284 });
}
