using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>
/// A receiver that misbehaves below what Kestrel allows: it reads each request, then hands the raw socket to a script
/// (headers sent a byte at a time, a body that never ends, a huge Content-Length). It counts the bytes its scripts
/// manage to write, which is how a test sees that the client stopped reading.
/// </summary>
public sealed class RawHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Func<NetworkStream, CancellationToken, Task> _script;
    private readonly Task _accepting;
    private long _written;
    private int _requests;

    private RawHttpServer(Func<NetworkStream, CancellationToken, Task> script)
    {
        _script = script;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public static RawHttpServer Start(Func<RawHttpServer, NetworkStream, CancellationToken, Task> script)
    {
        RawHttpServer? server = null;
        server = new RawHttpServer((stream, token) => script(server!, stream, token));
        return server;
    }

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hook");

    /// <summary>Bytes the scripts wrote to clients, headers included.</summary>
    public long Written => Interlocked.Read(ref _written);

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Writes and counts; false once the client has gone (reset or closed).</summary>
    public async Task<bool> TryWriteAsync(NetworkStream stream, ReadOnlyMemory<byte> bytes, CancellationToken token)
    {
        try
        {
            await stream.WriteAsync(bytes, token);
            Interlocked.Add(ref _written, bytes.Length);
            return true;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }

    public Task<bool> TryWriteAsync(NetworkStream stream, string text, CancellationToken token) => TryWriteAsync(stream, Encoding.ASCII.GetBytes(text), token);

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    if (!await ReadRequestAsync(stream, _stopping.Token)) return;
                    Interlocked.Increment(ref _requests);
                    try
                    {
                        await _script(stream, _stopping.Token);
                    }
                    catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
                    {
                    }
                }
            });
        }
    }

    /// <summary>Reads the request line, headers and a Content-Length body.</summary>
    private static async Task<bool> ReadRequestAsync(NetworkStream stream, CancellationToken token)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        try
        {
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one, token) == 0) return false;
                head.Append((char)one[0]);
            }

            var length = head.ToString().Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            var body = new byte[length];
            await stream.ReadExactlyAsync(body, token);
            return true;
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or EndOfStreamException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener.Stop();
        await _accepting;
        _stopping.Dispose();
    }
}
