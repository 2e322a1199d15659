using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

/// <summary>Samples allocations by type through the runtime's AllocationTick events (about one per 100 KB).</summary>
internal sealed class AllocationProfile : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytes = new();
    public bool Enabled { get; set; }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!Enabled || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null) return;
        var name = e.PayloadNames!.IndexOf("TypeName") is var i and >= 0 ? e.Payload[i] as string ?? "?" : "?";
        var amount = e.PayloadNames!.IndexOf("AllocationAmount64") is var j and >= 0 ? Convert.ToInt64(e.Payload[j]) : 100_000;
        _bytes.AddOrUpdate(name, amount, (_, v) => v + amount);
    }

    public void Clear() => _bytes.Clear();

    public void Print(int top = 30)
    {
        var total = _bytes.Values.Sum();
        Console.WriteLine($"  sampled total {total / 1024 / 1024} MB");
        foreach (var (type, bytes) in _bytes.OrderByDescending(p => p.Value).Take(top))
        {
            Console.WriteLine($"{bytes * 100.0 / total,6:0.0}%  {bytes / 1024,8:N0} KB  {(type.Length > 120 ? type[..120] : type)}");
        }
    }
}
