using System.Runtime.CompilerServices;
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
}

/// <summary>The attempt path's builder for <see cref="ValueTask"/>: pooled, or the standard one under <see cref="ControlledScheduling"/>.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct AttemptMethodBuilder
{
    private PoolingAsyncValueTaskMethodBuilder _pooled;
    private AsyncValueTaskMethodBuilder _standard;
    private bool _controlled;

    public static AttemptMethodBuilder Create() => ControlledScheduling.Enabled
        ? new AttemptMethodBuilder { _controlled = true, _standard = AsyncValueTaskMethodBuilder.Create() }
        : new AttemptMethodBuilder { _pooled = PoolingAsyncValueTaskMethodBuilder.Create() };

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

/// <summary>The attempt path's builder for <see cref="ValueTask{TResult}"/>: pooled, or the standard one under <see cref="ControlledScheduling"/>.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct AttemptMethodBuilder<TResult>
{
    private PoolingAsyncValueTaskMethodBuilder<TResult> _pooled;
    private AsyncValueTaskMethodBuilder<TResult> _standard;
    private bool _controlled;

    public static AttemptMethodBuilder<TResult> Create() => ControlledScheduling.Enabled
        ? new AttemptMethodBuilder<TResult> { _controlled = true, _standard = AsyncValueTaskMethodBuilder<TResult>.Create() }
        : new AttemptMethodBuilder<TResult> { _pooled = PoolingAsyncValueTaskMethodBuilder<TResult>.Create() };

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
