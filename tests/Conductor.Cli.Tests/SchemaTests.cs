using System.Text.Json;
using Conductor.Cli.Schema;
using Xunit;

namespace Conductor.Cli.Tests;

/// <summary>Issue #22 point 2: the JSON Schema in the repository (and the package) is the one the model generates.</summary>
public sealed class SchemaTests
{
    private static string RepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Conductor.Sdk.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("Conductor.Sdk.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void The_committed_schema_is_exactly_what_the_model_generates()
    {
        var committed = File.ReadAllText(Path.Combine(RepoRoot(), "schema", "ensemble.schema.json")).ReplaceLineEndings("\n");
        Assert.True(committed == EnsembleJsonSchema.Generate(),
            "schema/ensemble.schema.json is out of date with the model; regenerate it with: dotnet run --project src/Conductor.Cli -- schema --output schema/ensemble.schema.json");
    }

    [Fact]
    public async Task conductor_schema_prints_it_and_writes_it_with_output()
    {
        var printed = await CliRun.RunAsync("schema");
        Assert.Equal(0, printed.ExitCode);
        Assert.Equal(EnsembleJsonSchema.Generate(), printed.Out);

        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "ensemble.schema.json");
        var written = await CliRun.RunAsync("schema", "--output", path);
        Assert.Equal((0, ""), (written.ExitCode, written.Out));
        using var schema = JsonDocument.Parse(File.ReadAllText(path));
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", schema.RootElement.GetProperty("$schema").GetString());
        // The model's tables are in it: every event name, every push provider.
        var text = File.ReadAllText(path);
        foreach (var name in Sdk.Model.EventCatalog.Names) Assert.Contains($"\"{name}\"", text);
        foreach (var provider in Sdk.Model.Validation.Schema.PushProviders) Assert.Contains($"\"{provider}\"", text);
    }
}
