namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>A directory under the temp folder for one test, deleted (with its SQLite files) on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix) => Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N"));

    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> in the directory, which is created on first use.</summary>
    public string File(string name)
    {
        Directory.CreateDirectory(Path);
        return System.IO.Path.Combine(Path, name);
    }

    public void Dispose()
    {
        // Pooled SQLite connections would keep the files open.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
