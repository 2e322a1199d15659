using System.Collections.Concurrent;
using Conductor.Sdk.Push;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>An <see cref="IPushTokenInvalidated"/> that records every call, for the push provider tests.</summary>
public sealed class RecordingTokenHook : IPushTokenInvalidated
{
    private readonly ConcurrentQueue<PushTokenInvalidation> _calls = new();

    /// <summary>The calls so far, in order.</summary>
    public IReadOnlyList<PushTokenInvalidation> Calls => _calls.ToArray();

    public ValueTask OnTokenInvalidatedAsync(PushTokenInvalidation invalidation, CancellationToken cancellationToken)
    {
        _calls.Enqueue(invalidation);
        return ValueTask.CompletedTask;
    }
}
