using System.Collections.Generic;
using System.Linq;
using Conductor.Sdk.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Conductor.Sdk.Generators
{
    /// <summary>
    /// A call such as <c>builder.AddServerHealthCheck(agents => agents.CheckHealth&lt;MyAgent&gt;())</c>, reduced to plain
    /// data: the method name, the agent methods the lambda calls, and where the call is. Matched against the ensembles
    /// to report CND0015 for agents left out. Syntax only: the generated method does not exist yet when this runs.
    /// </summary>
    internal sealed record AgentRegistrationCall(string Method, EquatableArray<string> Registered, string FilePath, TextSpan Span, LinePositionSpan LineSpan)
    {
        /// <summary>Cheap filter: <c>x.AddSomething(lambda)</c>.</summary>
        public static bool IsCandidate(SyntaxNode node) =>
            node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member, ArgumentList.Arguments.Count: 1 } invocation
            && member.Name is IdentifierNameSyntax name
            && name.Identifier.ValueText.Length > 3
            && name.Identifier.ValueText.StartsWith("Add", System.StringComparison.Ordinal)
            && invocation.ArgumentList.Arguments[0].Expression is LambdaExpressionSyntax;

        public static AgentRegistrationCall? From(SyntaxNode node)
        {
            var invocation = (InvocationExpressionSyntax)node;
            var member = (MemberAccessExpressionSyntax)invocation.Expression;
            var lambda = (LambdaExpressionSyntax)invocation.ArgumentList.Arguments[0].Expression;
            string? parameter = lambda switch
            {
                SimpleLambdaExpressionSyntax simple => simple.Parameter.Identifier.ValueText,
                ParenthesizedLambdaExpressionSyntax { ParameterList.Parameters.Count: 1 } parenthesized => parenthesized.ParameterList.Parameters[0].Identifier.ValueText,
                _ => null,
            };
            if (parameter is null) return null;

            // agents.A<X>(), agents.A((input, context) => ...) and chains of them: every member called on the lambda's
            // parameter, directly or through the chain.
            var registered = lambda.DescendantNodes()
                .OfType<MemberAccessExpressionSyntax>()
                .Where(access => access.Parent is InvocationExpressionSyntax && (access.Name is GenericNameSyntax || RootOf(access) == parameter))
                .Select(access => access.Name.Identifier.ValueText)
                .Distinct()
                .OrderBy(n => n, System.StringComparer.Ordinal)
                .ToEquatableArray();
            var location = member.Name.GetLocation();
            var lineSpan = location.GetLineSpan();
            return new AgentRegistrationCall(member.Name.Identifier.ValueText, registered, lineSpan.Path ?? string.Empty, location.SourceSpan, lineSpan.Span);
        }

        /// <summary>The identifier a chain such as <c>agents.A(...).B(...)</c> starts from, or null.</summary>
        private static string? RootOf(MemberAccessExpressionSyntax access)
        {
            ExpressionSyntax expression = access.Expression;
            while (true)
            {
                switch (expression)
                {
                    case IdentifierNameSyntax identifier:
                        return identifier.Identifier.ValueText;
                    case InvocationExpressionSyntax invocation:
                        expression = invocation.Expression;
                        break;
                    case MemberAccessExpressionSyntax member:
                        expression = member.Expression;
                        break;
                    default:
                        return null;
                }
            }
        }

        /// <summary>CND0015 for every agent of the matching ensemble that the lambda does not register.</summary>
        public static IEnumerable<Diagnostic> Check(AgentRegistrationCall call, IEnumerable<EnsembleDefinition> ensembles)
        {
            foreach (var ensemble in ensembles)
            {
                if (TypedEnsembleEmitter.RegistrationMethod(ensemble) != call.Method) continue;
                foreach (var agent in TypedEnsembleEmitter.AgentsOf(ensemble))
                {
                    var method = Naming.ToPascalCase(agent);
                    if (call.Registered.Contains(method)) continue;
                    var typed = ensemble.Input is not null || ShapeEmitter.AgentOutputs(ensemble).Any(a => a.Agent == agent);
                    var contract = typed ? $"{ensemble.TypeName}Ensemble.I{method}Agent" : "Conductor.Sdk.Runner.IAgent";
                    yield return Diagnostic.Create(
                        DiagnosticDescriptors.UnregisteredAgent,
                        Location.Create(call.FilePath, call.Span, call.LineSpan),
                        $"{call.Method} registers no implementation of agent '{agent}', which the flow of ensemble '{ensemble.Name.Value}' runs; add agents.{method}<YourAgent>() to the lambda (YourAgent implements {contract})");
                }
            }
        }
    }
}
