using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL cluster from the Debian binaries: <c>initdb</c> and <c>pg_ctl</c> on a free loopback port
/// in a temporary folder (as the <c>postgres</c> user when the tests run as root), removed afterwards. When
/// PostgreSQL is not installed the tests fail with how to install it; they never skip silently.
/// </summary>
public sealed class PostgreSqlCluster : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "conductor-pg-" + Guid.NewGuid().ToString("N"));
    private string _bin = string.Empty;
    private int _port;
    private bool _asPostgres;

    public string ServerConnectionString => $"Host=127.0.0.1;Port={_port};Username=postgres;Database=postgres;Pooling=false";

    public async Task InitializeAsync()
    {
        _bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderByDescending(d => d).FirstOrDefault() ?? string.Empty
            : string.Empty;
        if (_bin.Length == 0)
        {
            throw new InvalidOperationException("PostgreSQL is not installed, and the PostgreSQL store tests need it: run `apt-get update && apt-get install -y postgresql` (.ci/run does this).");
        }

        _asPostgres = Environment.UserName == "root";
        Directory.CreateDirectory(_directory);
        if (_asPostgres) Run("chown", $"-R postgres \"{_directory}\"");
        var data = Path.Combine(_directory, "data");
        RunPg("initdb", $"-D \"{data}\" -U postgres --auth=trust -E UTF8 --no-sync");
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            _port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        RunPg("pg_ctl", $"-D \"{data}\" -l \"{Path.Combine(_directory, "server.log")}\" -w -o \"-p {_port} -k {_directory} -c listen_addresses=127.0.0.1 -c max_connections=200\" start");
        await using var connection = new NpgsqlConnection(ServerConnectionString);
        await connection.OpenAsync();
    }

    private string Data => Path.Combine(_directory, "data");

    private string StartOptions => $"-o \"-p {_port} -k {_directory} -c listen_addresses=127.0.0.1 -c max_connections=200\"";

    /// <summary>Restarts the server as an operator would (<c>pg_ctl restart -m fast</c>): connections are dropped.</summary>
    public void Restart() => RunPg("pg_ctl", $"-D \"{Data}\" -l \"{Path.Combine(_directory, "server.log")}\" -w -m fast {StartOptions} restart");

    /// <summary>
    /// Kills the server (SIGKILL to the postmaster, as the OOM killer would) and starts it again after
    /// <paramref name="down"/>: it recovers from its WAL. Its other processes exit when they see the postmaster gone;
    /// until they have, a new postmaster refuses to start, so starting is tried again for a while.
    /// </summary>
    public async Task KillAndStartAsync(TimeSpan down)
    {
        var pid = int.Parse(File.ReadLines(Path.Combine(Data, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture);
        Process.GetProcessById(pid).Kill();
        await Task.Delay(down);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                RunPg("pg_ctl", $"-D \"{Data}\" -l \"{Path.Combine(_directory, "server.log")}\" -w {StartOptions} start");
                return;
            }
            catch (InvalidOperationException) when (attempt < 50)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>A new empty database, so that tests do not see each other's rows.</summary>
    public string CreateDatabase()
    {
        var name = "t" + Guid.NewGuid().ToString("N");
        using var connection = new NpgsqlConnection(ServerConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        command.ExecuteNonQuery();
        return $"Host=127.0.0.1;Port={_port};Username=postgres;Database={name};Maximum Pool Size=40";
    }

    private void RunPg(string tool, string arguments)
    {
        var path = Path.Combine(_bin, tool);
        if (_asPostgres) Run("runuser", $"-u postgres -- \"{path}\" {arguments}");
        else Run(path, arguments);
    }

    private static void Run(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2))) process.Kill(entireProcessTree: true);
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments} failed ({process.ExitCode}): {output.Result}{error.Result}");
    }

    public Task DisposeAsync()
    {
        try
        {
            RunPg("pg_ctl", $"-D \"{Path.Combine(_directory, "data")}\" -m immediate -w stop");
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}

[CollectionDefinition("postgresql")]
public sealed class PostgreSqlCollection : ICollectionFixture<PostgreSqlCluster>;
