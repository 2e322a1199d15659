namespace Conductor.Sdk.Delivery;

/// <summary>The endpoint states, as a map under the store's lock (the same rules as the SQL stores' <c>endpoints</c> table).</summary>
public sealed partial class InMemoryDeliveryStore
{
    private readonly Dictionary<string, EndpointState> _endpointStates = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<EndpointState>> EndpointsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult<IReadOnlyList<EndpointState>>(_endpointStates.Values.OrderBy(s => s.Endpoint, StringComparer.Ordinal).ToList());
    }

    /// <inheritdoc />
    public ValueTask<(EndpointState State, bool Started)> RecordEndpointFailuresAsync(string endpoint, DateTimeOffset at, long attempts, long deliveries, string? error, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var old = _endpointStates.GetValueOrDefault(endpoint);
            var started = old?.FailingSince is null;
            var state = new EndpointState(endpoint, old?.DisabledAt is not null ? EndpointHealth.Disabled : EndpointHealth.Failing,
                old?.FailingSince ?? at, (old?.FailedAttempts ?? 0) + attempts, (old?.FailedDeliveries ?? 0) + deliveries,
                error ?? old?.LastError, at, old?.DisabledAt, old?.DisabledReason, at);
            _endpointStates[endpoint] = state;
            return ValueTask.FromResult((state, started));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RecordEndpointSuccessAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_endpointStates.GetValueOrDefault(endpoint) is not { FailingSince: not null, DisabledAt: null } old) return ValueTask.FromResult(false);
            _endpointStates[endpoint] = old with { Health = EndpointHealth.Healthy, FailingSince = null, FailedAttempts = 0, FailedDeliveries = 0, UpdatedAt = at };
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> DisableEndpointAsync(string endpoint, DateTimeOffset at, string reason, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var old = _endpointStates.GetValueOrDefault(endpoint);
            if (old?.DisabledAt is not null) return ValueTask.FromResult(false);
            _endpointStates[endpoint] = (old ?? new EndpointState(endpoint, EndpointHealth.Healthy, null, 0, 0, null, null, null, null, at))
                with { Health = EndpointHealth.Disabled, DisabledAt = at, DisabledReason = reason, UpdatedAt = at };
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> EnableEndpointAsync(string endpoint, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_endpointStates.GetValueOrDefault(endpoint) is not { DisabledAt: not null } old) return ValueTask.FromResult(false);
            _endpointStates[endpoint] = old with
            {
                Health = EndpointHealth.Healthy, FailingSince = null, FailedAttempts = 0, FailedDeliveries = 0, DisabledAt = null, DisabledReason = null, UpdatedAt = at,
            };
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<EndpointBacklog>> EndpointBacklogAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var result = new List<EndpointBacklog>();
            foreach (var (endpoint, due) in _due)
            {
                long count = 0;
                foreach (var d in due)
                {
                    if (d.At > now) break;
                    count++;
                }

                if (count > 0) result.Add(new EndpointBacklog(endpoint, count, due.Min.At));
            }

            return ValueTask.FromResult<IReadOnlyList<EndpointBacklog>>(result);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AttemptSample>> RecentAttemptsAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<AttemptSample> samples = _entries.Values
                .SelectMany(e => (e.Attempts ?? (IEnumerable<AttemptLog>)Array.Empty<AttemptLog>()).Where(a => a.StartedAt >= since).Select(a => (e.Record.Endpoint, Attempt: a)))
                .OrderByDescending(x => x.Attempt.StartedAt)
                .Take(limit)
                .Select(x => new AttemptSample(x.Endpoint, x.Attempt.StartedAt, x.Attempt.Duration, x.Attempt.Outcome, x.Attempt.StatusCode))
                .ToList();
            return ValueTask.FromResult(samples);
        }
    }
}
