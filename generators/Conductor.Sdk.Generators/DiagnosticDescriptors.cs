using System.Collections.Generic;
using Conductor.Sdk.Model.Diagnostics;
using Microsoft.CodeAnalysis;

namespace Conductor.Sdk.Generators
{
    /// <summary>
    /// The Roslyn descriptors of the CND catalogue. Ids, titles and descriptions come from
    /// <see cref="DiagnosticCatalog"/> (shared with the CLI); severities are written out here so
    /// the release-tracking analyzer can check them against AnalyzerReleases.Shipped.md.
    /// </summary>
    internal static class DiagnosticDescriptors
    {
        public static readonly DiagnosticDescriptor YamlSyntax = Create(DiagnosticIds.YamlSyntax, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor RequiredField = Create(DiagnosticIds.RequiredField, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor UnknownKind = Create(DiagnosticIds.UnknownKind, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor UnknownEvent = Create(DiagnosticIds.UnknownEvent, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor MissingSecret = Create(DiagnosticIds.MissingSecret, DiagnosticSeverity.Warning);
        public static readonly DiagnosticDescriptor LiteralSecret = Create(DiagnosticIds.LiteralSecret, DiagnosticSeverity.Warning);
        public static readonly DiagnosticDescriptor InvalidUrl = Create(DiagnosticIds.InvalidUrl, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor InvalidAddress = Create(DiagnosticIds.InvalidAddress, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor TemplateSyntax = Create(DiagnosticIds.TemplateSyntax, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor UnknownBinding = Create(DiagnosticIds.UnknownBinding, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor OutOfRange = Create(DiagnosticIds.OutOfRange, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor DuplicateName = Create(DiagnosticIds.DuplicateName, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor UnknownKey = Create(DiagnosticIds.UnknownKey, DiagnosticSeverity.Warning);
        public static readonly DiagnosticDescriptor AllEvents = Create(DiagnosticIds.AllEvents, DiagnosticSeverity.Info);
        public static readonly DiagnosticDescriptor UnregisteredAgent = Create(DiagnosticIds.UnregisteredAgent, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor UnknownMember = Create(DiagnosticIds.UnknownMember, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor TypeMismatch = Create(DiagnosticIds.TypeMismatch, DiagnosticSeverity.Error);
        public static readonly DiagnosticDescriptor UndeclaredShape = Create(DiagnosticIds.UndeclaredShape, DiagnosticSeverity.Warning);
        public static readonly DiagnosticDescriptor InvalidShape = Create(DiagnosticIds.InvalidShape, DiagnosticSeverity.Error);

        /// <summary>Every descriptor, by id.</summary>
        public static readonly IReadOnlyDictionary<string, DiagnosticDescriptor> ById = new Dictionary<string, DiagnosticDescriptor>
        {
            [YamlSyntax.Id] = YamlSyntax,
            [RequiredField.Id] = RequiredField,
            [UnknownKind.Id] = UnknownKind,
            [UnknownEvent.Id] = UnknownEvent,
            [MissingSecret.Id] = MissingSecret,
            [LiteralSecret.Id] = LiteralSecret,
            [InvalidUrl.Id] = InvalidUrl,
            [InvalidAddress.Id] = InvalidAddress,
            [TemplateSyntax.Id] = TemplateSyntax,
            [UnknownBinding.Id] = UnknownBinding,
            [OutOfRange.Id] = OutOfRange,
            [DuplicateName.Id] = DuplicateName,
            [UnknownKey.Id] = UnknownKey,
            [AllEvents.Id] = AllEvents,
            [UnregisteredAgent.Id] = UnregisteredAgent,
            [UnknownMember.Id] = UnknownMember,
            [TypeMismatch.Id] = TypeMismatch,
            [UndeclaredShape.Id] = UndeclaredShape,
            [InvalidShape.Id] = InvalidShape,
        };

        private static DiagnosticDescriptor Create(string id, DiagnosticSeverity severity)
        {
            var rule = DiagnosticCatalog.Get(id);
            return new DiagnosticDescriptor(
                id,
                rule.Title,
                "{0}",
                DiagnosticCatalog.Category,
                severity,
                isEnabledByDefault: true,
                description: rule.Description,
                helpLinkUri: rule.HelpLink);
        }
    }
}
