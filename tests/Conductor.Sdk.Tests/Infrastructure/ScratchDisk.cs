using System.Diagnostics;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>
/// A small tmpfs mounted for one test (the tests run as root, as CI does): a disk that can fill up, or be remounted
/// read-only, under a store that has no idea it is being tested. Unmounted (lazily) on dispose.
/// </summary>
public sealed class ScratchDisk : IDisposable
{
    private ScratchDisk(string path) => Path = path;

    public string Path { get; }

    public static ScratchDisk Mount(int kilobytes)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "conductor-disk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        var (code, error) = Run("mount", $"-t tmpfs -o size={kilobytes}k tmpfs {path}");
        if (code != 0)
        {
            throw new InvalidOperationException($"these tests mount a small tmpfs and need root with CAP_SYS_ADMIN (as in CI); mount said: {error}");
        }

        return new ScratchDisk(path);
    }

    public void ReadOnly(bool readOnly)
    {
        var (code, error) = Run("mount", $"-o remount,{(readOnly ? "ro" : "rw")} {Path}");
        if (code != 0) throw new InvalidOperationException("remount failed: " + error);
    }

    /// <summary>Writes a file until the disk says it is full; returns its path.</summary>
    public string Fill()
    {
        var filler = System.IO.Path.Combine(Path, "filler");
        var block = new byte[4096];
        using var stream = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough);
        try
        {
            while (true) stream.Write(block);
        }
        catch (IOException)
        {
            // ENOSPC: the disk is full.
        }

        return filler;
    }

    private static (int Code, string Error) Run(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error.Trim());
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Run("umount", $"-l {Path}");
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
