using System.Collections.Concurrent;
using System.Diagnostics;
using Conductor.Sdk.Delivery;

/// <summary>Diagnostic decorator (--time-store): counts calls and time per store operation.</summary>
internal sealed class TimedStore(IDeliveryStore inner) : IDeliveryStore, IAsyncDisposable
{
    public static readonly ConcurrentDictionary<string, (long Calls, long Ticks)> Stats = new();

    private async ValueTask<T> Time<T>(string name, Func<ValueTask<T>> call)
    {
        var start = Stopwatch.GetTimestamp();
        try { return await call(); }
        finally { Add(name, start); }
    }

    private static void Add(string name, long start)
    {
        var elapsed = Stopwatch.GetTimestamp() - start;
        Stats.AddOrUpdate(name, (1, elapsed), (_, s) => (s.Calls + 1, s.Ticks + elapsed));
    }

    private async ValueTask Time(string name, Func<ValueTask> call) => await Time<int>(name, async () => { await call(); return 0; });

    public static void Print()
    {
        foreach (var (name, (calls, ticks)) in Stats.OrderByDescending(s => s.Value.Ticks))
            Console.WriteLine($"  {name,-26} {calls,8} calls {TimeSpan.FromTicks(ticks * TimeSpan.TicksPerSecond / Stopwatch.Frequency).TotalMilliseconds,10:N0} ms total {TimeSpan.FromTicks(ticks * TimeSpan.TicksPerSecond / Stopwatch.Frequency).TotalMicroseconds / Math.Max(1, calls),10:N0} us/call");
        Stats.Clear();
    }

    public ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> d, CancellationToken c = default) => Time("Enqueue", () => inner.EnqueueAsync(d, c));
    // Leases are told apart by whether endpoints were skipped and whether anything came back.
    public async ValueTask<IReadOnlyList<DeliveryRecord>> LeaseDueAsync(DateTimeOffset n, int m, DateTimeOffset u, IReadOnlyCollection<string>? s = null, CancellationToken c = default)
    {
        var start = Stopwatch.GetTimestamp();
        var leased = await inner.LeaseDueAsync(n, m, u, s, c);
        Add($"LeaseDue{(s is { Count: > 0 } ? " skipping" : "")}{(leased.Count == 0 ? ", none" : "")}", start);
        return leased;
    }
    public ValueTask RecordAttemptAsync(AttemptLog a, DeliveryStatus n, CancellationToken c = default) => Time("RecordAttempt", () => inner.RecordAttemptAsync(a, n, c));
    public ValueTask ReleaseAsync(string id, DateTimeOffset d, CancellationToken c = default) => Time("Release", () => inner.ReleaseAsync(id, d, c));
    public ValueTask<DateTimeOffset?> NextDueAsync(IReadOnlyCollection<string>? s = null, CancellationToken c = default) => Time("NextDue", () => inner.NextDueAsync(s, c));
    public ValueTask<DeliveryRecord?> GetAsync(string id, CancellationToken c = default) => inner.GetAsync(id, c);
    public ValueTask<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryQuery q, CancellationToken c = default) => inner.ListAsync(q, c);
    public ValueTask<IReadOnlyList<AttemptLog>> AttemptsAsync(string id, CancellationToken c = default) => inner.AttemptsAsync(id, c);
    public ValueTask<bool> ReplayAsync(string id, DateTimeOffset n, CancellationToken c = default) => inner.ReplayAsync(id, n, c);
    public ValueTask<int> PurgeAsync(DateTimeOffset b, CancellationToken c = default) => inner.PurgeAsync(b, c);
    public ValueTask<int> PurgeAsync(DateTimeOffset b, DeliveryStatus? s, CancellationToken c = default) => inner.PurgeAsync(b, s, c);
    public ValueTask DisposeAsync() => inner is IAsyncDisposable d ? d.DisposeAsync() : ValueTask.CompletedTask;
}
