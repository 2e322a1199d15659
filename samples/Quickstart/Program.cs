using Quickstart.Ensembles;

// The classes below are generated at build time from ensembles/*.yaml; no YAML is read at run time.
// A typo in those files is a build diagnostic on the YAML line (see the build output for CND0010).
Console.WriteLine("Conductor.Sdk Quickstart: ensembles compiled from ensembles/*.yaml");
Console.WriteLine();
Print(UserOnboardingEnsemble.Name, UserOnboardingEnsemble.Notifications.Select(n => (n.Type, n.Events)));
Print(CriticalWorkflowEnsemble.Name, CriticalWorkflowEnsemble.Notifications.Select(n => (n.Type, n.Events)));
Print(ServerHealthCheckEnsemble.Name, ServerHealthCheckEnsemble.Notifications.Select(n => (n.Type, n.Events)));
Print(PaymentProcessingEnsemble.Name, PaymentProcessingEnsemble.Notifications.Select(n => (n.Type, n.Events)));

static void Print(string name, IEnumerable<(string Type, IReadOnlyList<string> Events)> notifications)
{
    var list = notifications.ToList();
    Console.WriteLine($"{name}: {list.Count} notification(s)");
    foreach (var (type, events) in list)
    {
        Console.WriteLine($"  - {type,-8} on {string.Join(", ", events)}");
    }
}
