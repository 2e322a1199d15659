using System.Runtime.CompilerServices;
using Conductor.Sdk.Channels;
using System.Runtime.InteropServices;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// The seam for systematic concurrency testing (issue #37, tests/Conductor.Sdk.Concurrency). Coyote takes control of
/// tasks, awaits, locks and semaphores by rewriting the assemblies, but two things on the attempt path are outside what
/// its rewriter knows: the pooled async builder (<see cref="PoolingAsyncValueTaskMethodBuilder"/>: its rewriting log
/// leaves these builders as they are, and a rewritten assembly that uses them never completes an attempt) and
/// <see cref="ThreadPool.UnsafeQueueUserWorkItem{TState}(Action{TState}, TState, bool)"/> (Coyote reports it as "not
/// intercepted and controlled"). While <see cref="Enabled"/> is set, the attempt path uses the standard builder and
/// <see cref="Task.Run(Func{Task})"/> instead, which Coyote controls; otherwise (always, outside those tests) nothing
/// changes but one static read per builder call and per launch.
/// </summary>
internal static class ControlledScheduling
{
    /// <summary>Set by the systematic tests before they build a pipeline.</summary>
    public static bool Enabled;

    /// <summary>
    /// Runs an attempt through an endpoint's Polly pipeline in a way Coyote can control. Polly.Core cannot be rewritten
    /// (Coyote 1.7.11 produces invalid IL in its pipeline components) and, unrewritten, its <c>ExecuteOutcomeAsync</c>
    /// returns tasks that Coyote cannot control ("not intercepted and controlled"), so the attempt's continuations ran on
    /// threads outside the test's control. Here the channel call runs first, as a controlled task, under a timeout on the
    /// injected clock (what the pipeline's timeout strategy does), and its outcome then goes through the pipeline
    /// synchronously, so that the circuit breaker counts it and opens, probes and closes as it does in production.
    /// </summary>
    public static async Task<Polly.Outcome<AttemptResult>> ExecuteAsync<TState>(Polly.ResiliencePipeline<AttemptResult> pipeline,
        Func<Polly.ResilienceContext, TState, ValueTask<Polly.Outcome<AttemptResult>>> send, Polly.ResilienceContext context, TState state,
        TimeSpan timeout, TimeProvider time)
    {
        Polly.Outcome<AttemptResult> sent;
        using (var timeoutSource = new CancellationTokenSource(timeout, time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, timeoutSource.Token))
        {
            var sendContext = Polly.ResilienceContextPool.Shared.Get(linked.Token);
            try
            {
                sent = await send(sendContext, state).ConfigureAwait(false);
            }
            finally
            {
                Polly.ResilienceContextPool.Shared.Return(sendContext);
            }

            if (sent.Exception is OperationCanceledException && timeoutSource.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                sent = Polly.Outcome.FromException<AttemptResult>(new Polly.Timeout.TimeoutRejectedException(timeout));
            }
        }

        try
        {
            return Polly.Outcome.FromResult(pipeline.Execute(static (_, outcome) =>
            {
                outcome.ThrowIfException();
                return outcome.Result!;
            }, context, sent));
        }
        catch (Exception ex)
        {
            return Polly.Outcome.FromException<AttemptResult>(ex);
        }
    }
}

/// <summary>The delivery path's builder for <see cref="ValueTask"/> (attempts): pooled, or the standard one under <see cref="ControlledScheduling"/>.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct DeliveryMethodBuilder
{
    private PoolingAsyncValueTaskMethodBuilder _pooled;
    private AsyncValueTaskMethodBuilder _standard;
    private bool _controlled;

    public static DeliveryMethodBuilder Create() => ControlledScheduling.Enabled
        ? new DeliveryMethodBuilder { _controlled = true, _standard = AsyncValueTaskMethodBuilder.Create() }
        : new DeliveryMethodBuilder { _pooled = PoolingAsyncValueTaskMethodBuilder.Create() };

    public ValueTask Task
    {
        get
        {
            if (_controlled) return _standard.Task;
            return _pooled.Task;
        }
    }

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        if (_controlled) _standard.Start(ref stateMachine);
        else _pooled.Start(ref stateMachine);
    }

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
        if (_controlled) _standard.SetStateMachine(stateMachine);
        else _pooled.SetStateMachine(stateMachine);
    }

    public void SetResult()
    {
        if (_controlled) _standard.SetResult();
        else _pooled.SetResult();
    }

    public void SetException(Exception exception)
    {
        if (_controlled) _standard.SetException(exception);
        else _pooled.SetException(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine
    {
        if (_controlled) _standard.AwaitOnCompleted(ref awaiter, ref stateMachine);
        else _pooled.AwaitOnCompleted(ref awaiter, ref stateMachine);
    }

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine
    {
        if (_controlled) _standard.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
        else _pooled.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
    }
}

/// <summary>The delivery path's builder for <see cref="ValueTask{TResult}"/> (attempts, the channel, Notify's store path): pooled, or the standard one under <see cref="ControlledScheduling"/>.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct DeliveryMethodBuilder<TResult>
{
    private PoolingAsyncValueTaskMethodBuilder<TResult> _pooled;
    private AsyncValueTaskMethodBuilder<TResult> _standard;
    private bool _controlled;

    public static DeliveryMethodBuilder<TResult> Create() => ControlledScheduling.Enabled
        ? new DeliveryMethodBuilder<TResult> { _controlled = true, _standard = AsyncValueTaskMethodBuilder<TResult>.Create() }
        : new DeliveryMethodBuilder<TResult> { _pooled = PoolingAsyncValueTaskMethodBuilder<TResult>.Create() };

    public ValueTask<TResult> Task
    {
        get
        {
            if (_controlled) return _standard.Task;
            return _pooled.Task;
        }
    }

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        if (_controlled) _standard.Start(ref stateMachine);
        else _pooled.Start(ref stateMachine);
    }

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
        if (_controlled) _standard.SetStateMachine(stateMachine);
        else _pooled.SetStateMachine(stateMachine);
    }

    public void SetResult(TResult result)
    {
        if (_controlled) _standard.SetResult(result);
        else _pooled.SetResult(result);
    }

    public void SetException(Exception exception)
    {
        if (_controlled) _standard.SetException(exception);
        else _pooled.SetException(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine
    {
        if (_controlled) _standard.AwaitOnCompleted(ref awaiter, ref stateMachine);
        else _pooled.AwaitOnCompleted(ref awaiter, ref stateMachine);
    }

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine
    {
        if (_controlled) _standard.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
        else _pooled.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
    }
}

/// <summary>
/// The worker's signal and the processor's lease gate: a <see cref="SemaphoreSlim"/>, or under
/// <see cref="ControlledScheduling"/> a semaphore built on <see cref="TaskCompletionSource"/>s. Coyote 1.7.11 treats the
/// task of <see cref="SemaphoreSlim.WaitAsync(CancellationToken)"/> as uncontrolled: a worker waiting on it was resumed
/// only after the test's own operation had finished its next steps (the loop ran once per minute of fake time, its timer
/// and wake-ups notwithstanding), which hides every interleaving of the wait. Task completion sources it controls.
/// </summary>
internal sealed class GateSemaphore
{
    private readonly SemaphoreSlim? _semaphore;
    private readonly int _max;
    private int _count;
    private readonly Queue<(TaskCompletionSource Task, CancellationTokenRegistration Cancel)> _waiters = new();

    public GateSemaphore(int initial, int max)
    {
        if (ControlledScheduling.Enabled)
        {
            _count = initial;
            _max = max;
        }
        else
        {
            _semaphore = new SemaphoreSlim(initial, max);
        }
    }

    /// <summary>The count, as <see cref="SemaphoreSlim.CurrentCount"/>.</summary>
    public int CurrentCount
    {
        get
        {
            if (_semaphore is not null) return _semaphore.CurrentCount;
            lock (_waiters) return _count;
        }
    }

    /// <summary>
    /// Under <see cref="ControlledScheduling"/>: true while a caller waits that no release has reached (a released waiter
    /// that has not run yet no longer counts). Always false otherwise.
    /// </summary>
    public bool HasWaiter
    {
        get
        {
            if (_semaphore is not null) return false;
            lock (_waiters)
            {
                foreach (var waiter in _waiters)
                {
                    if (!waiter.Task.Task.IsCompleted) return true;
                }

                return false;
            }
        }
    }

    /// <summary>As <see cref="SemaphoreSlim.WaitAsync(CancellationToken)"/>.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        if (_semaphore is not null) return _semaphore.WaitAsync(cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_waiters)
        {
            if (_count > 0)
            {
                _count--;
                return Task.CompletedTask;
            }

            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue((waiter, cancellationToken.Register(() => waiter.TrySetCanceled(cancellationToken))));
            return waiter.Task;
        }
    }

    /// <summary>As <see cref="SemaphoreSlim.Release()"/>, including its <see cref="SemaphoreFullException"/>.</summary>
    public void Release()
    {
        if (_semaphore is not null)
        {
            _semaphore.Release();
            return;
        }

        lock (_waiters)
        {
            // A cancelled waiter gave up its turn: the count goes to the next one.
            while (_waiters.TryDequeue(out var waiter))
            {
                waiter.Cancel.Dispose();
                if (waiter.Task.TrySetResult()) return;
            }

            if (_count >= _max) throw new SemaphoreFullException();
            _count++;
        }
    }
}
