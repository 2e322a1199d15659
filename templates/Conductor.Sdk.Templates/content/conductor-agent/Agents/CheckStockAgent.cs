using Conductor.Sdk.Runner;
using ConductorApp.Ensembles;

namespace ConductorApp;

/// <summary>The check-stock step of ensemble check-stock (ensembles/check-stock.yaml).</summary>
public sealed class CheckStockAgent : CheckStockEnsemble.ICheckStockAgent
{
    public ValueTask<CheckStockEnsemble.CheckStockOutput> RunAsync(CheckStockEnsemble.Input input, AgentContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new CheckStockEnsemble.CheckStockOutput { Available = input.Quantity > 0 });
}
