using System.Globalization;
using System.Text.RegularExpressions;

namespace Conductor.Cli;

/// <summary>Durations as operators type them: <c>30d</c>, <c>12h</c>, <c>90m</c>, <c>45s</c>, <c>500ms</c>, or a TimeSpan (<c>1.02:00:00</c>).</summary>
internal static partial class Durations
{
    public static TimeSpan Parse(string text, string option)
    {
        var match = Unit().Match(text.Trim());
        if (match.Success)
        {
            var value = double.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            var span = match.Groups["u"].Value.ToLowerInvariant() switch
            {
                "ms" => TimeSpan.FromMilliseconds(value),
                "s" => TimeSpan.FromSeconds(value),
                "m" => TimeSpan.FromMinutes(value),
                "h" => TimeSpan.FromHours(value),
                "d" => TimeSpan.FromDays(value),
                _ => TimeSpan.FromDays(7 * value),
            };
            return span;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) && parsed >= TimeSpan.Zero) return parsed;
        throw new CliUsageException($"{option} '{text}' is not a duration; write for example 30d, 12h, 90m, 45s or 500ms.");
    }

    [GeneratedRegex(@"^(?<n>\d+(\.\d+)?)\s*(?<u>ms|s|m|h|d|w)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Unit();
}
