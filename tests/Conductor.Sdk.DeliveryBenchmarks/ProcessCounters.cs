using System.Globalization;

/// <summary>Counters of this process that the harness reports per round (Linux: /proc/self).</summary>
internal static class ProcessCounters
{
    // Context switches so far per thread of this process, with the thread's name (Linux only).
    public static List<(string Name, long Switches)> SwitchesByThread()
    {
        var result = new List<(string, long)>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    long total = 0;
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            total += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                        }
                    }

                    result.Add((File.ReadAllText(Path.Combine(task, "comm")).Trim(), total));
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (IOException)
        {
        }

        return result;
    }

    public static Dictionary<string, long> SwitchesByName() =>
        SwitchesByThread().GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Sum(t => t.Switches));

    /// <summary>
    /// Context switches per delivery since <paramref name="before"/> (a <see cref="SwitchesByName"/> taken then): the
    /// total, and the <paramref name="top"/> threads by name that switched most.
    /// </summary>
    public static string SwitchesPerDelivery(Dictionary<string, long> before, int count, int top)
    {
        var switches = SwitchesByName().Select(t => (t.Key, Delta: t.Value - before.GetValueOrDefault(t.Key))).Where(t => t.Delta > 0).OrderByDescending(t => t.Delta).ToList();
        return $"{(double)switches.Sum(t => t.Delta) / count:0.00} context switches/delivery ({string.Join(", ", switches.Take(top).Select(t => $"{t.Key} {(double)t.Delta / count:0.00}"))})";
    }
}
