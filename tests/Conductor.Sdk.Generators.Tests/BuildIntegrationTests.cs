using System.Diagnostics;
using Xunit;

namespace Conductor.Sdk.Generators.Tests;

/// <summary>
/// A real consuming project built with <c>dotnet build</c>: the props pick up ensembles/**/*.yaml, and the
/// generator's diagnostics appear in the build output on the YAML line, as a developer sees them.
/// </summary>
public sealed class BuildIntegrationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "conductor-consumer-" + Guid.NewGuid().ToString("N"));

    public BuildIntegrationTests()
    {
        var root = ModelTests.FindRepoRoot();
        Directory.CreateDirectory(Path.Combine(_directory, "ensembles"));
        File.WriteAllText(Path.Combine(_directory, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <Import Project="{root}/generators/Conductor.Sdk.Generators/buildTransitive/Conductor.Sdk.Generators.props" />
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <RootNamespace>Consumer</RootNamespace>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{root}/generators/Conductor.Sdk.Generators/Conductor.Sdk.Generators.csproj" OutputItemType="Analyzer" ReferenceOutputAssembly="false" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(_directory, "Program.cs"), "System.Console.WriteLine(Consumer.Ensembles.AlertsEnsemble.Name);\n");
    }

    [Fact]
    public void Build_shows_CND0005_as_a_warning_on_the_yaml_line_and_fails_on_errors()
    {
        var yaml = Path.Combine(_directory, "ensembles", "alerts.yaml");
        File.WriteAllText(yaml, """
            name: alerts
            notifications:
              - type: webhook
                url: https://api.example.com/hooks
                events: [execution.failed]
            """);
        var (exitCode, output) = Build();
        Assert.True(exitCode == 0, output);
        Assert.Contains($"{yaml}(3,11): warning CND0005: webhook notification #1 has no 'secret'", output);

        File.WriteAllText(yaml, """
            name: alerts
            notifications:
              - type: webhook
                url: https://api.example.com/hooks
                events: [execution.finished]
                secret: ${env.WEBHOOK_SECRET}
            """);
        (exitCode, output) = Build();
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"{yaml}(5,14): error CND0004: unknown event 'execution.finished'; did you mean 'execution.failed'?", output);
        Assert.DoesNotContain("CS8785", output);
        Assert.DoesNotContain("AD0001", output);
    }

    private (int ExitCode, string Output) Build()
    {
        var start = new ProcessStartInfo("dotnet", "build -nologo -nodeReuse:false -p:UseSharedCompilation=false -clp:NoSummary")
        {
            WorkingDirectory = _directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment.Remove("CI"); // the consumer's own warnings policy, not ours
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("dotnet build of the consumer project did not finish in 4 minutes");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
