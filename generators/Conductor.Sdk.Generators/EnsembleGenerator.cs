using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model;
using Conductor.Sdk.Model.Diagnostics;
using Conductor.Sdk.Model.Validation;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Conductor.Sdk.Generators
{
    /// <summary>
    /// The pipeline: select ensemble files, parse each on its own (cached per file), check names
    /// across files, then report diagnostics and emit code through separate outputs.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class EnsembleGenerator : IIncrementalGenerator
    {
        /// <summary>Names of the tracked pipeline steps, asserted by the caching tests.</summary>
        public static class Steps
        {
            /// <summary>AdditionalFiles chosen as ensembles.</summary>
            public const string EnsembleFiles = nameof(EnsembleFiles);
            /// <summary>One parse result per file.</summary>
            public const string ParsedEnsembles = nameof(ParsedEnsembles);
            /// <summary>Diagnostics of one file.</summary>
            public const string FileDiagnostics = nameof(FileDiagnostics);
            /// <summary>Names used for the cross-file check.</summary>
            public const string EnsembleIdentities = nameof(EnsembleIdentities);
            /// <summary>CND0012 diagnostics.</summary>
            public const string DuplicateDiagnostics = nameof(DuplicateDiagnostics);
            /// <summary>Generated class names that must not be emitted.</summary>
            public const string DuplicateTypeNames = nameof(DuplicateTypeNames);
            /// <summary>MSBuild settings.</summary>
            public const string GenerationOptions = nameof(GenerationOptions);
            /// <summary>Ensembles ready to emit.</summary>
            public const string EnsembleSources = nameof(EnsembleSources);
            /// <summary>Whether the compilation references the Conductor.Sdk runtime (typed API) or not (constants only).</summary>
            public const string RuntimeReference = nameof(RuntimeReference);
            /// <summary>The ensembles <c>AddEnsembles()</c> registers.</summary>
            public const string Registration = nameof(Registration);
            /// <summary>Calls of generated <c>Add{Ensemble}(agents => ...)</c> methods found in C#.</summary>
            public const string AgentRegistrationCalls = nameof(AgentRegistrationCalls);
            /// <summary>Each call with the ensembles it may register (CND0015).</summary>
            public const string AgentRegistrationChecks = nameof(AgentRegistrationChecks);
        }

        /// <inheritdoc />
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var files = context.AdditionalTextsProvider
                .Combine(context.AnalyzerConfigOptionsProvider)
                .Select((pair, _) => EnsembleFile.Select(pair.Left, pair.Right))
                .Where(file => file is not null)
                .Select((file, _) => file!)
                .WithTrackingName(Steps.EnsembleFiles);

            var parsed = files
                .Select((file, cancellationToken) => EnsembleParser.Parse(file.Path, file.Text.GetText(cancellationToken)?.ToString() ?? string.Empty))
                .WithTrackingName(Steps.ParsedEnsembles);

            var fileDiagnostics = parsed
                .Select((result, _) => result.Diagnostics)
                .WithTrackingName(Steps.FileDiagnostics);
            context.RegisterSourceOutput(fileDiagnostics, static (spc, diagnostics) => Report(spc, diagnostics));

            var identities = parsed
                .Where(result => result.Ensemble is not null && result.Ensemble.Name.Value.Length > 0)
                .Select((result, _) => new EnsembleIdentity(result.Ensemble!.Name.Value, result.Ensemble.TypeName, result.FilePath, result.Ensemble.Name.Span))
                .WithTrackingName(Steps.EnsembleIdentities)
                .Collect();

            var duplicateDiagnostics = identities
                .Select((all, _) => DuplicateNames.Find(all).ToEquatableArray())
                .WithTrackingName(Steps.DuplicateDiagnostics);
            context.RegisterSourceOutput(duplicateDiagnostics, static (spc, diagnostics) => Report(spc, diagnostics));

            var duplicateTypeNames = duplicateDiagnostics
                .Select((diagnostics, _) => new HashSet<string>(diagnostics.Select(d => d.FilePath)).OrderBy(p => p, System.StringComparer.Ordinal).ToEquatableArray())
                .WithTrackingName(Steps.DuplicateTypeNames);

            var generationOptions = context.AnalyzerConfigOptionsProvider
                .Select((provider, _) => GenerationOptions.From(provider))
                .WithTrackingName(Steps.GenerationOptions);

            // The typed API needs the runtime package; without it (a project that only wants the checks) the
            // generator emits constants only. The lookup re-runs per compilation, but its boolean result caches.
            var runtime = context.CompilationProvider
                .Select((compilation, _) => compilation.GetTypeByMetadataName("Conductor.Sdk.Ensembles.TemplateContext") is not null)
                .WithTrackingName(Steps.RuntimeReference);

            var settings = generationOptions.Combine(runtime);

            var valid = parsed
                .Where(result => result.Ensemble is not null && !result.HasErrors)
                .Select((result, _) => result.Ensemble!);

            var sources = valid
                .Combine(duplicateTypeNames)
                .Combine(settings)
                .Select((input, _) => (Ensemble: input.Left.Left, Skip: input.Left.Right.Contains(input.Left.Left.FilePath), Options: input.Right.Left, Typed: input.Right.Right))
                .WithTrackingName(Steps.EnsembleSources);

            context.RegisterSourceOutput(sources, static (spc, input) =>
            {
                if (input.Skip) return;
                var code = input.Typed ? TypedEnsembleEmitter.Emit(input.Ensemble, input.Options) : EnsembleEmitter.Emit(input.Ensemble, input.Options);
                spc.AddSource(EnsembleEmitter.HintName(input.Ensemble), SourceText.From(code, System.Text.Encoding.UTF8));
            });

            CheckAgentRegistrations(context, valid, runtime);

            var registration = valid
                .Collect()
                .Combine(duplicateTypeNames)
                .Select((input, _) => input.Left
                    .Where(e => !input.Right.Contains(e.FilePath))
                    .OrderBy(e => e.Name.Value, System.StringComparer.Ordinal)
                    .ToEquatableArray())
                .Combine(settings)
                .WithTrackingName(Steps.Registration);

            context.RegisterSourceOutput(registration, static (spc, input) =>
            {
                if (!input.Right.Right) return;
                spc.AddSource("ConductorEnsembles.g.cs", SourceText.From(TypedEnsembleEmitter.EmitRegistration(input.Left, input.Right.Left), System.Text.Encoding.UTF8));
            });
        }

        private static void CheckAgentRegistrations(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<EnsembleDefinition> valid, IncrementalValueProvider<bool> runtime)
        {
            var calls = context.SyntaxProvider
                .CreateSyntaxProvider(static (node, _) => AgentRegistrationCall.IsCandidate(node), static (syntax, _) => AgentRegistrationCall.From(syntax.Node))
                .Where(call => call is not null)
                .Select((call, _) => call!)
                .WithTrackingName(Steps.AgentRegistrationCalls);
            var checks = calls
                .Combine(valid.Collect().Select((all, _) => all.ToEquatableArray()))
                .Combine(runtime)
                .WithTrackingName(Steps.AgentRegistrationChecks);
            context.RegisterSourceOutput(checks, static (spc, input) =>
            {
                if (!input.Right) return;
                foreach (var diagnostic in AgentRegistrationCall.Check(input.Left.Left, input.Left.Right)) spc.ReportDiagnostic(diagnostic);
            });
        }

        private static void Report(SourceProductionContext context, EquatableArray<EnsembleDiagnostic> diagnostics)
        {
            foreach (var diagnostic in diagnostics)
            {
                context.ReportDiagnostic(ToRoslyn(diagnostic));
            }
        }

        internal static Diagnostic ToRoslyn(EnsembleDiagnostic diagnostic)
        {
            var span = diagnostic.Span;
            var location = Location.Create(
                diagnostic.FilePath,
                new TextSpan(span.Start, span.Length),
                new LinePositionSpan(new LinePosition(span.StartLine, span.StartColumn), new LinePosition(span.EndLine, span.EndColumn)));
            var descriptor = DiagnosticDescriptors.ById[diagnostic.Id];
            var severity = diagnostic.Severity switch
            {
                Severity.Error => DiagnosticSeverity.Error,
                Severity.Warning => DiagnosticSeverity.Warning,
                _ => DiagnosticSeverity.Info,
            };
            var warningLevel = severity == DiagnosticSeverity.Error ? 0 : 1;
            return Diagnostic.Create(descriptor.Id, descriptor.Category, diagnostic.Message, severity, descriptor.DefaultSeverity,
                descriptor.IsEnabledByDefault, warningLevel, descriptor.Title, descriptor.Description, descriptor.HelpLinkUri, location,
                additionalLocations: null, customTags: descriptor.CustomTags, properties: null);
        }
    }
}
