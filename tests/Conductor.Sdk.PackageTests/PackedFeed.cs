using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

namespace Conductor.Sdk.PackageTests;

/// <summary>The result of one command.</summary>
public sealed record CommandResult(int ExitCode, string Output)
{
    public CommandResult Succeeded(string what)
    {
        Assert.True(ExitCode == 0, $"{what} failed with exit code {ExitCode}:\n{Tail(Output)}");
        return this;
    }

    private static string Tail(string text) => text.Length <= 6000 ? text : "…" + text[^6000..];
}

/// <summary>
/// Packs every package of the repository, once for the test run, into a local folder feed, with a version of its own
/// (so that the NuGet cache never serves an older build). The sources are copied first, so that packing never touches
/// the build outputs of the test run. Fresh projects made by <see cref="NewFolder"/> restore from this feed.
/// </summary>
public sealed class PackedFeed : IDisposable
{
    /// <summary>Every package a user can reference, and the project that makes it.</summary>
    public static readonly (string Id, string Project)[] Packages =
    [
        ("Conductor.Sdk", "src/Conductor.Sdk/Conductor.Sdk.csproj"),
        ("Conductor.Sdk.AspNetCore", "src/Conductor.Sdk.AspNetCore/Conductor.Sdk.AspNetCore.csproj"),
        ("Conductor.Sdk.Push", "src/Conductor.Sdk.Push/Conductor.Sdk.Push.csproj"),
        ("Conductor.Sdk.Smtp", "src/Conductor.Sdk.Smtp/Conductor.Sdk.Smtp.csproj"),
        ("Conductor.Sdk.Twilio", "src/Conductor.Sdk.Twilio/Conductor.Sdk.Twilio.csproj"),
        ("Conductor.Sdk.PostgreSql", "src/Conductor.Sdk.PostgreSql/Conductor.Sdk.PostgreSql.csproj"),
        ("Conductor.Sdk.EntityFrameworkCore", "src/Conductor.Sdk.EntityFrameworkCore/Conductor.Sdk.EntityFrameworkCore.csproj"),
        ("Conductor.Sdk.Testing", "src/Conductor.Sdk.Testing/Conductor.Sdk.Testing.csproj"),
        ("Conductor.Cli", "src/Conductor.Cli/Conductor.Cli.csproj"),
        ("Conductor.Sdk.Templates", "templates/Conductor.Sdk.Templates/Conductor.Sdk.Templates.csproj"),
    ];

    private readonly string _work = Path.Combine(Path.GetTempPath(), "conductor-packages-" + Guid.NewGuid().ToString("N")[..12]);

    public PackedFeed()
    {
        RepoRoot = FindRepoRoot();
        Version = "0.1.0-pkgtest." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + "." + Environment.ProcessId;
        Feed = Path.Combine(_work, "feed");
        var sources = Path.Combine(_work, "sources");
        Directory.CreateDirectory(Feed);
        foreach (var entry in new[] { "src", "generators", "templates", "schema" }) Copy(Path.Combine(RepoRoot, entry), Path.Combine(sources, entry));
        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" }) File.Copy(Path.Combine(RepoRoot, file), Path.Combine(sources, file));

        foreach (var (id, project) in Packages)
        {
            Run(sources, "dotnet", "pack", project, "-c", "Release", "-o", Feed, "-p:Version=" + Version, "-nologo").Succeeded("packing " + id);
        }
    }

    public string RepoRoot { get; }

    /// <summary>The version every package was packed with.</summary>
    public string Version { get; }

    /// <summary>The folder feed.</summary>
    public string Feed { get; }

    /// <summary>An empty folder outside the repository with a nuget.config that restores from the feed, then nuget.org.</summary>
    public string NewFolder(string name)
    {
        var folder = Path.Combine(_work, "projects", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="conductor-local" value="{Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        return folder;
    }

    /// <summary>Runs a command (CI=false: a user's machine), capturing standard output and error together.</summary>
    public static CommandResult Run(string directory, string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment.Remove("CI");
        // The default store of an app whose host reloads configuration is in the user's local application data: each folder
        // gets its own (a sibling, outside the app's content root).
        start.Environment["XDG_DATA_HOME"] = Path.TrimEndingDirectorySeparator(directory) + ".data";
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 5 minutes:\n{output}");
        }

        process.WaitForExit();
        lock (output) return new CommandResult(process.ExitCode, output.ToString());
    }

    /// <summary>The nuspec of a packed package.</summary>
    public XDocument Nuspec(string id)
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(Path.Combine(Feed, $"{id}.{Version}.nupkg"));
        using var stream = archive.GetEntry(id + ".nuspec")!.Open();
        return XDocument.Load(stream);
    }

    /// <summary>The file names inside a packed package.</summary>
    public IReadOnlyList<string> Entries(string id)
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(Path.Combine(Feed, $"{id}.{Version}.nupkg"));
        return archive.Entries.Select(e => e.FullName).ToList();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }

        // This run's packages in the NuGet cache are never used again.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var (id, _) in Packages)
        {
            var folder = Path.Combine(cache, id.ToLowerInvariant(), Version);
            try
            {
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void Copy(string from, string to)
    {
        foreach (var directory in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, directory);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj")) continue;
            Directory.CreateDirectory(Path.Combine(to, relative));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj")) continue;
            File.Copy(file, Path.Combine(to, relative));
        }
    }

    private static string FindRepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Conductor.Sdk.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("Conductor.Sdk.sln not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class PackedFeedCollection : ICollectionFixture<PackedFeed>
{
    public const string Name = "packed feed";
}
