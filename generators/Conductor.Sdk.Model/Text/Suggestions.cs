using System;
using System.Collections.Generic;

namespace Conductor.Sdk.Model.Text
{
    /// <summary>"Did you mean" suggestions by edit distance.</summary>
    public static class Suggestions
    {
        /// <summary>
        /// The candidate closest to <paramref name="value"/> if it is close enough to be a likely typo
        /// (at most a third of the word's length in edits, and at least one edit allowed).
        /// </summary>
        public static string? Closest(string value, IEnumerable<string> candidates)
        {
            string? best = null;
            var bestDistance = int.MaxValue;
            foreach (var candidate in candidates)
            {
                var distance = Distance(value.ToLowerInvariant(), candidate.ToLowerInvariant());
                if (distance < bestDistance)
                {
                    bestDistance = distance;
                    best = candidate;
                }
            }

            var allowed = Math.Max(2, value.Length / 3);
            return best is not null && bestDistance <= allowed ? best : null;
        }

        /// <summary>"; did you mean 'x'?" or an empty string.</summary>
        public static string DidYouMean(string value, IEnumerable<string> candidates)
        {
            var closest = Closest(value, candidates);
            return closest is null ? string.Empty : $"; did you mean '{closest}'?";
        }

        /// <summary>Optimal string alignment distance (Levenshtein with adjacent transpositions).</summary>
        public static int Distance(string a, string b)
        {
            if (a.Length > 64 || b.Length > 64) return Math.Max(a.Length, b.Length);
            var d = new int[a.Length + 1, b.Length + 1];
            for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
            for (var j = 0; j <= b.Length; j++) d[0, j] = j;
            for (var i = 1; i <= a.Length; i++)
            {
                for (var j = 1; j <= b.Length; j++)
                {
                    var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                    d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                    if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    {
                        d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                    }
                }
            }

            return d[a.Length, b.Length];
        }
    }
}
