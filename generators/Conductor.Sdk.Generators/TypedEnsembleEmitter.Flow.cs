using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Conductor.Sdk.Model;

namespace Conductor.Sdk.Generators
{
    /// <summary>The flow the runner executes, <c>RunAsync</c>, and the typed agent registrations.</summary>
    internal static partial class TypedEnsembleEmitter
    {
        private static void EmitFlow(SourceWriter w, EnsembleDefinition ensemble, List<OutputProperty> outputs)
        {
            w.Line("/// <summary>The compiled flow the runner executes.</summary>");
            w.Open($"private static readonly {Sdk}.Runner.FlowDefinition Flow = new(Name, Timeout, new {Sdk}.Runner.FlowStepDefinition[]");
            foreach (var step in ensemble.Flow.Where(s => s.StepName is not null))
            {
                var index = step.Index.ToString(CultureInfo.InvariantCulture);
                var condition = step.Condition is null ? "null" : TemplateCompiler.CompileCondition(step.Condition);

                if (step.Agent is not null)
                {
                    var call = $"agents.{Naming.ToPascalCase(step.Agent.Value)}<TAgent>()";
                    w.Line($"new {Sdk}.Runner.AgentStepDefinition({TemplateCompiler.Literal(step.StepName!)}, {TemplateCompiler.Literal(step.Agent.Value)}, {condition}, {TemplateMap(step.Input, "            ")}, {TemplateCompiler.Literal(call)}),");
                }
                else if (step.Operation is not null)
                {
                    w.Line($"new {Sdk}.Runner.OperationStepDefinition({TemplateCompiler.Literal(step.StepName!)}, {condition}, {OperationField(step)}),");
                }
            }

            w.Close($", {TemplateCompiler.Literal(RegistrationMethod(ensemble))});");
            w.Line();
            w.Line("/// <summary>The <c>outputs:</c> table: each value is built once every step has run, then read as <see cref=\"Output\"/>.</summary>");
            if (outputs.Count == 0)
            {
                w.Line($"private static readonly {Sdk}.Ensembles.OutputPlan<Output> Outputs = new(Name);");
            }
            else
            {
                w.Line($"private static readonly {Sdk}.Ensembles.OutputPlan<Output> Outputs = new(Name,");
                for (var i = 0; i < outputs.Count; i++)
                {
                    w.Line($"    {TemplateCompiler.Bind}.{outputs[i].Kind}Output({TemplateCompiler.Literal(outputs[i].Key)}, {outputs[i].Value}){(i == outputs.Count - 1 ? ");" : ",")}");
                }
            }

            w.Line();
            const string Result = "global::System.Threading.Tasks.Task<" + Sdk + ".Runner.ExecutionResult<Output>>";
            const string Token = "global::System.Threading.CancellationToken cancellationToken = default";
            w.Line("/// <summary>");
            w.Line("/// Runs the flow: each step in order (a false <c>condition:</c> skips it), agents resolved from DI, operation steps");
            w.Line("/// stored as deliveries, then <c>outputs:</c>. Sends execution.started, agent.completed, state.updated and");
            w.Line("/// execution.completed / execution.failed / execution.timeout to this ensemble's notifications.");
            w.Line("/// </summary>");
            if (ensemble.Input is null)
            {
                w.Line("/// <param name=\"input\">The run's input (<c>${input.…}</c>, <c>data.input</c> of execution.started). Declare <c>input:</c> in the YAML to type it.</param>");
                w.Line("/// <param name=\"cancellationToken\">Cancels the run (it then sends execution.failed and throws).</param>");
                w.Line($"public {Result} RunAsync(global::System.Text.Json.JsonElement? input = null, {Token}) =>");
                w.Line("    _runner.RunAsync(Flow, input, Outputs.Create, Outputs.ToJson, cancellationToken);");
                w.Line();
                return;
            }

            w.Line("/// <param name=\"input\">The run's input, as declared by <c>input:</c>; a required field left null fails the run, naming the field.</param>");
            w.Line("/// <param name=\"cancellationToken\">Cancels the run (it then sends execution.failed and throws).</param>");
            w.Line($"public {Result} RunAsync(Input input, {Token}) =>");
            w.Line("    _runner.RunAsync<Input, Output>(Flow, input, Outputs.Create, Outputs.ToJson, cancellationToken);");
            w.Line();
            w.Line("/// <summary>Runs the flow with input received as JSON: input that does not match <c>input:</c> fails the run with an error naming the field.</summary>");
            w.Line("/// <param name=\"input\">The run's input as JSON (keys as in the YAML).</param>");
            w.Line("/// <param name=\"cancellationToken\">Cancels the run (it then sends execution.failed and throws).</param>");
            w.Line($"public {Result} RunAsync(global::System.Text.Json.JsonElement input, {Token}) =>");
            w.Line("    _runner.RunJsonAsync<Input, Output>(Flow, input, Outputs.Create, Outputs.ToJson, cancellationToken);");
            w.Line();
        }

        /// <summary>The generated registration method of an ensemble: <c>Add{TypeName}</c>.</summary>
        public static string RegistrationMethod(EnsembleDefinition ensemble) =>
            // An ensemble named 'ensembles' must not collide with AddEnsembles() itself.
            ensemble.TypeName == "Ensembles" ? "AddEnsemblesEnsemble" : "Add" + ensemble.TypeName;

        /// <summary>The agents of a flow, distinct, in flow order.</summary>
        public static List<string> AgentsOf(EnsembleDefinition ensemble) => ensemble.Flow.Where(s => s.Agent is not null).Select(s => s.Agent!.Value).Distinct().ToList();

        /// <summary>The typed contract of an agent: (input type, output type, interface name), or null when nothing about it is declared.</summary>
        private static (string Input, string Output, string Interface, bool TypedOutput)? AgentContract(EnsembleDefinition ensemble, ShapeEmitter shapes, string agent)
        {
            var output = shapes.OutputTypeOf(agent);
            if (ensemble.Input is null && output is null) return null;
            const string Json = "global::System.Text.Json.JsonElement?";
            return (ensemble.Input is null ? Json : "Input", output ?? Json, "I" + Naming.ToPascalCase(agent) + "Agent", output is not null);
        }

        private static void EmitAgentRegistrations(SourceWriter w, EnsembleDefinition ensemble, ShapeEmitter shapes)
        {
            foreach (var agent in AgentsOf(ensemble))
            {
                if (AgentContract(ensemble, shapes, agent) is not { } contract) continue;
                w.Line($"/// <summary>The contract of agent <c>{Xml(agent)}</c>: receives <c>{Xml(contract.Input)}</c>, returns <c>{Xml(contract.Output)}</c> (as declared in the YAML).</summary>");
                w.Line($"public interface {contract.Interface} : {Sdk}.Runner.IAgent<{contract.Input}, {contract.Output}> {{ }}");
                w.Line();
            }

            w.Line($"/// <summary>Registers the C# implementations of this flow's agents: one method per agent (used by <c>{RegistrationMethod(ensemble)}</c>).</summary>");
            w.Open("public sealed class AgentRegistrations");
            w.Line("private readonly global::Microsoft.Extensions.DependencyInjection.IServiceCollection _services;");
            w.Line();
            w.Line("internal AgentRegistrations(global::Microsoft.Extensions.DependencyInjection.IServiceCollection services) => _services = services;");
            foreach (var agent in AgentsOf(ensemble))
            {
                var contract = AgentContract(ensemble, shapes, agent);
                w.Line();
                w.Line($"/// <summary>Registers <typeparamref name=\"TAgent\"/> as agent <c>{Xml(agent)}</c> (transient, resolved once per run){(contract is null ? string.Empty : $"; it implements <see cref=\"{contract.Value.Interface}\"/>")}.</summary>");
                w.Line($"public AgentRegistrations {Naming.ToPascalCase(agent)}<[global::System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(global::System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] TAgent>()");
                if (contract is { } typed)
                {
                    w.Line($"    where TAgent : class, {Sdk}.Runner.IAgent<{typed.Input}, {typed.Output}>");
                    w.Open();
                    w.Line(typed.TypedOutput
                        ? $"{Sdk}.Runner.TypedAgents.Add<{typed.Input}, {typed.Output}, TAgent>(_services, Name, {TemplateCompiler.Literal(agent)});"
                        : $"{Sdk}.Runner.TypedAgents.AddJsonOutput<{typed.Input}, TAgent>(_services, Name, {TemplateCompiler.Literal(agent)});");
                }
                else
                {
                    w.Line($"    where TAgent : class, {Sdk}.Runner.IAgent");
                    w.Open();
                    w.Line($"global::Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddKeyedTransient<{Sdk}.Runner.IAgent, TAgent>(_services, {Sdk}.Runner.AgentStepDefinition.ServiceKey(Name, {TemplateCompiler.Literal(agent)}));");
                }

                w.Line("return this;");
                w.Close();
                // Nothing declared: the function takes and returns the JSON as it is.
                EmitFunctionRegistrations(w, agent, contract ?? ("global::System.Text.Json.JsonElement?", "global::System.Text.Json.JsonElement?", string.Empty, false));
            }

            w.Close();
            w.Line();
        }

        /// <summary>Two overloads that register a function as the agent: <c>(input, context) =&gt; output</c> and its async form.</summary>
        private static void EmitFunctionRegistrations(SourceWriter w, string agent, (string Input, string Output, string Interface, bool TypedOutput) contract)
        {
            var method = Naming.ToPascalCase(agent);
            var register = contract.TypedOutput
                ? $"{Sdk}.Runner.TypedAgents.AddFunction<{contract.Input}, {contract.Output}>"
                : $"{Sdk}.Runner.TypedAgents.AddJsonOutputFunction<{contract.Input}>";
            w.Line();
            w.Line($"/// <summary>Registers a function as agent <c>{Xml(agent)}</c> (a small agent, or a fake in a test); its output is checked as a class's would be.</summary>");
            w.Line($"public AgentRegistrations {method}(global::System.Func<{contract.Input}, {Sdk}.Runner.AgentContext, {contract.Output}> agent)");
            // No lambda in generated code: binding one per agent costs the consumer's build (the runtime adapts the function).
            w.Open();
            w.Line($"{register}(_services, Name, {TemplateCompiler.Literal(agent)}, agent);");
            w.Line("return this;");
            w.Close();
            w.Line();
            w.Line($"/// <summary>Registers an async function as agent <c>{Xml(agent)}</c>; the token is cancelled when the ensemble's <c>timeout:</c> passes.</summary>");
            w.Line($"public AgentRegistrations {method}(global::System.Func<{contract.Input}, {Sdk}.Runner.AgentContext, global::System.Threading.CancellationToken, global::System.Threading.Tasks.ValueTask<{contract.Output}>> agent)");
            w.Open();
            w.Line($"{register}(_services, Name, {TemplateCompiler.Literal(agent)}, agent);");
            w.Line("return this;");
            w.Close();
        }
    }
}
