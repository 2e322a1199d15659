using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>Keeps every log line (level, message, exception, state) for a test to search.</summary>
public sealed class CollectingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider, ILogger
{
    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        lines.Enqueue($"{logLevel}: {formatter(state, exception)} {exception} {state}");

    public void Dispose()
    {
    }
}
