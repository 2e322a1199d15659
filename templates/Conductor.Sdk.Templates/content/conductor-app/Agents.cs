using Conductor.Sdk.Runner;
using ConductorApp.Ensembles;

namespace ConductorApp;

/// <summary>The ship-order step of ensemble order-fulfilment: its input and output types come from the YAML.</summary>
public sealed class ShipOrder : OrderFulfilmentEnsemble.IShipOrderAgent
{
    public ValueTask<OrderFulfilmentEnsemble.ShipOrderOutput> RunAsync(OrderFulfilmentEnsemble.Input input, AgentContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new OrderFulfilmentEnsemble.ShipOrderOutput { TrackingNumber = "TRACK-" + input.OrderId });
}
