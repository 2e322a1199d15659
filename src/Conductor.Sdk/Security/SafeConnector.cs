using System.Net;
using System.Net.Sockets;

namespace Conductor.Sdk.Security;

/// <summary>A destination was refused by the <see cref="DestinationPolicy"/>; the message says which address and how to allow it.</summary>
public sealed class DestinationRefusedException(string message) : Exception(message);

/// <summary>
/// The connect step of the webhook <see cref="SocketsHttpHandler"/>: resolves the host itself, checks
/// every address against the <see cref="DestinationPolicy"/>, and connects only to an allowed one. Because
/// the check runs on the address actually connected to, a name that resolves (or rebinds) to a private
/// address is refused even when an earlier lookup looked public.
/// </summary>
public sealed class SafeConnector
{
    private readonly DestinationPolicy _policy;
    private readonly Func<string, CancellationToken, ValueTask<IPAddress[]>> _resolve;

    /// <summary>Creates a connector; <paramref name="resolve"/> replaces DNS (tests use it to simulate rebinding).</summary>
    public SafeConnector(DestinationPolicy policy, Func<string, CancellationToken, ValueTask<IPAddress[]>>? resolve = null)
    {
        _policy = policy;
        _resolve = resolve ?? (async (host, ct) => await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false));
    }

    /// <summary>The callback for <see cref="SocketsHttpHandler.ConnectCallback"/>.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? new[] { literal } : await _resolve(host, cancellationToken).ConfigureAwait(false);
        string? refusal = null;
        Exception? lastError = null;
        foreach (var address in addresses)
        {
            var reason = _policy.Check(address);
            if (reason is not null)
            {
                refusal ??= reason;
                continue;
            }

            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                socket.Dispose();
                if (ex is OperationCanceledException) throw;
                lastError = ex;
            }
        }

        if (lastError is not null) throw lastError;
        if (refusal is not null) throw new DestinationRefusedException($"webhook host '{host}' {refusal}");
        throw new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>The handler webhooks are sent with: this connector, no redirects, no proxy (a proxy would bypass the address check), no cookies.</summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        ConnectCallback = ConnectAsync,
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        AutomaticDecompression = DecompressionMethods.None,
        // The webhook channel writes traceparent itself (ConductorOptions.PropagateTraceContext), from the stored trace of
        // the Notify call; the handler's propagation would otherwise add the worker's unrelated context.
        ActivityHeadersPropagator = System.Diagnostics.DistributedContextPropagator.CreateNoOutputPropagator(),
    };
}
