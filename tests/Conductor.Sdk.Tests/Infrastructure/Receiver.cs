using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>One request as the receiver saw it.</summary>
public sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : throw new KeyNotFoundException($"header {name} was not sent");
}

/// <summary>What the receiver does with a request.</summary>
public abstract record Reply
{
    public static Reply Status(int code, params (string Name, string Value)[] headers) => new StatusReply(code, headers);
    public static readonly Reply Reset = new ResetReply();
    public static readonly Reply Hang = new HangReply();

    /// <summary>Answers <paramref name="code"/> once <paramref name="gate"/> completes (an attempt the test holds in flight).</summary>
    public static Reply After(Task gate, int code) => new GatedReply(gate, code);
}

public sealed record StatusReply(int Code, (string Name, string Value)[] Headers) : Reply;
public sealed record ResetReply : Reply;
public sealed record HangReply : Reply;
public sealed record GatedReply(Task Gate, int Code) : Reply;

/// <summary>
/// A real Kestrel server on loopback that records every request and answers from a script
/// (the last reply repeats once the script is used up).
/// </summary>
public sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly Func<ReceivedRequest, int, Reply> _script;
    private readonly SemaphoreSlim _arrived = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stopping = new();
    private int _count;

    private Receiver(WebApplication app, Func<ReceivedRequest, int, Reply> script)
    {
        _app = app;
        _script = script;
    }

    public static Task<Receiver> StartAsync(params Reply[] replies) =>
        StartAsync((_, n) => replies.Length == 0 ? Reply.Status(200) : replies[Math.Min(n, replies.Length - 1)]);

    public static async Task<Receiver> StartAsync(Func<ReceivedRequest, int, Reply> script, string address = "127.0.0.1", Action<WebApplication>? map = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Parse(address), 0));
        services?.Invoke(builder.Services);
        var app = builder.Build();
        var receiver = new Receiver(app, script);
        if (map is not null) map(app);
        else app.Run(receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    public Uri BaseAddress => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

    public Uri Url(string path = "/hooks") => new(BaseAddress, path);

    public IReadOnlyList<ReceivedRequest> Requests => _requests.ToArray();

    public int Count => Volatile.Read(ref _count);

    /// <summary>Records a request that a mapped endpoint (not the script) handled.</summary>
    public void Record(ReceivedRequest request)
    {
        _requests.Enqueue(request);
        Interlocked.Increment(ref _count);
        _arrived.Release();
    }

    /// <summary>Waits until <paramref name="count"/> requests have arrived; fails after a generous real-time safety limit.</summary>
    public async Task WaitForAsync(int count, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(30));
        while (Count < count)
        {
            try
            {
                await _arrived.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"expected {count} requests, saw {Count}");
            }
        }
    }

    public static async Task<ReceivedRequest> ReadAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        return new ReceivedRequest(context.Request.Method, context.Request.Path, headers, body.ToArray());
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = await ReadAsync(context);
        var index = Interlocked.Increment(ref _count) - 1;
        _requests.Enqueue(request);
        var reply = _script(request, index);
        _arrived.Release();
        switch (reply)
        {
            case StatusReply status:
                context.Response.StatusCode = status.Code;
                foreach (var (name, value) in status.Headers) context.Response.Headers[name] = value;
                break;
            case ResetReply:
                context.Abort();
                break;
            case GatedReply gated:
                await gated.Gate.WaitAsync(_stopping.Token);
                context.Response.StatusCode = gated.Code;
                break;
            case HangReply:
                try
                {
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
                    await Task.Delay(Timeout.Infinite, linked.Token);
                }
                catch (OperationCanceledException)
                {
                }

                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
