using System;
using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model.Diagnostics;

namespace Conductor.Sdk.Model.Validation
{
    /// <summary>The identity of one ensemble for cross-file checks.</summary>
    public sealed record EnsembleIdentity(string Name, string TypeName, string FilePath, SourceSpan Span);

    /// <summary>CND0012: ensemble names must be unique in a project, and so must the classes generated from them.</summary>
    public static class DuplicateNames
    {
        /// <summary>One diagnostic for every ensemble that shares its name or generated class with another.</summary>
        public static IReadOnlyList<EnsembleDiagnostic> Find(IEnumerable<EnsembleIdentity> ensembles)
        {
            var all = ensembles.OrderBy(e => e.FilePath, StringComparer.Ordinal).ThenBy(e => e.Span.Start).ToList();
            var result = new List<EnsembleDiagnostic>();
            foreach (var group in all.GroupBy(e => e.TypeName, StringComparer.Ordinal))
            {
                var members = group.ToList();
                if (members.Count < 2) continue;
                foreach (var member in members)
                {
                    var others = members.Where(o => !ReferenceEquals(o, member)).ToList();
                    var sameName = others.Where(o => o.Name == member.Name).Select(o => $"{o.FilePath}({o.Span.DisplayLine},{o.Span.DisplayColumn})").ToList();
                    var sameClass = others.Where(o => o.Name != member.Name).Select(o => $"'{o.Name}' in {o.FilePath}").ToList();
                    var message = sameName.Count > 0
                        ? $"ensemble name '{member.Name}' is also used in {string.Join(", ", sameName)}; ensemble names must be unique in a project — rename one of them"
                        : $"ensemble name '{member.Name}' generates the class {member.TypeName}Ensemble, as does {string.Join(", ", sameClass)}; rename one of them";
                    result.Add(new EnsembleDiagnostic(DiagnosticIds.DuplicateName, Severity.Error, message, member.FilePath, member.Span));
                }
            }

            return result;
        }
    }
}
