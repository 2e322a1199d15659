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

    [Fact]
    public void The_packed_package_works_as_a_newcomer_installs_it()
    {
        var root = ModelTests.FindRepoRoot();
        var feed = Path.Combine(_directory, "feed");
        var version = "0.1.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var (packExit, packOutput) = Run(root, $"pack \"{root}/src/Conductor.Sdk/Conductor.Sdk.csproj\" -c Release -o \"{feed}\" -p:Version={version} -nodeReuse:false -p:UseSharedCompilation=false");
        Assert.True(packExit == 0, packOutput);
        var package = Path.Combine(feed, $"Conductor.Sdk.{version}.nupkg");
        using (var archive = System.IO.Compression.ZipFile.OpenRead(package))
        {
            var entries = archive.Entries.Select(e => e.FullName).ToList();
            foreach (var expected in new[] { "analyzers/dotnet/cs/Conductor.Sdk.Generators.dll", "analyzers/dotnet/cs/Conductor.Sdk.Model.dll", "analyzers/dotnet/cs/YamlDotNet.dll", "buildTransitive/Conductor.Sdk.props", "lib/net10.0/Conductor.Sdk.dll" })
            {
                Assert.Contains(expected, entries);
            }
        }

        // A consumer that knows nothing of this repository: a PackageReference and a local folder feed.
        var consumer = Path.Combine(_directory, "packaged");
        Directory.CreateDirectory(Path.Combine(consumer, "ensembles"));
        File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="conductor-local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(consumer, "Packaged.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <RootNamespace>Packaged</RootNamespace>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Conductor.Sdk" Version="{version}" />
                <PackageReference Include="Microsoft.Extensions.DependencyInjection" Version="10.0.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(consumer, "Program.cs"), """
            using Microsoft.Extensions.DependencyInjection;
            var services = new ServiceCollection();
            services.AddConductor().AddEnsembles();
            System.Console.WriteLine(Packaged.Ensembles.OrdersEnsemble.Name + " " + Packaged.Ensembles.OrdersEnsemble.EnvironmentRequirements.Count);
            """);
        var yaml = Path.Combine(consumer, "ensembles", "orders.yaml");
        File.WriteAllText(yaml, """
            name: orders
            notifications:
              - type: webhook
                url: ${env.ORDERS_WEBHOOK_URL}
                events: [execution.completed]
            """);

        var (buildExit, buildOutput) = Run(consumer, "build -nologo -nodeReuse:false -p:UseSharedCompilation=false -clp:NoSummary");
        Assert.True(buildExit == 0, buildOutput);
        Assert.Contains($"{yaml}(3,11): warning CND0005", buildOutput);
        var (runExit, runOutput) = Run(consumer, "run --no-build");
        Assert.True(runExit == 0, runOutput);
        Assert.Equal("orders 1", runOutput.Trim());

        // The opt-out property leaves the YAML out: no ensemble class, so Program.cs no longer compiles.
        var (optOutExit, optOutOutput) = Run(consumer, "build -nologo -nodeReuse:false -p:UseSharedCompilation=false -clp:NoSummary -p:ConductorAddEnsembleFiles=false");
        Assert.True(optOutExit != 0, optOutOutput);
        Assert.Contains("error CS0103: The name 'Packaged' does not exist in the current context", optOutOutput);
        Assert.DoesNotContain("CND0005", optOutOutput);
    }

    private (int ExitCode, string Output) Build() => Run(_directory, "build -nologo -nodeReuse:false -p:UseSharedCompilation=false -clp:NoSummary");

    private static (int ExitCode, string Output) Run(string directory, string arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = directory,
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
            throw new TimeoutException($"dotnet {arguments} did not finish in 4 minutes");
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
