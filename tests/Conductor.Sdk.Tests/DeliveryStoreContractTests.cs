using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>The <see cref="IDeliveryStore"/> contract, run against every store.</summary>
public abstract class DeliveryStoreContractTests : IAsyncLifetime
{
    internal static readonly DateTimeOffset T0 = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);

    protected IDeliveryStore Store { get; private set; } = null!;

    protected abstract IDeliveryStore CreateStore();

    public Task InitializeAsync()
    {
        Store = CreateStore();
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        if (Store is IAsyncDisposable disposable) await disposable.DisposeAsync();
    }

    internal static DeliveryRecord Record(string id, DateTimeOffset? due = null, string endpoint = "https://a.example.com", int maxAttempts = 4, string ensemble = "orders", string @event = "execution.completed") =>
        new(id, ensemble, @event, ensemble + "#0", "webhook", endpoint, Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\"}}"), T0, due ?? T0, DeliveryStatus.Pending, 0, maxAttempts);

    private static AttemptLog Attempt(string id, int number, AttemptOutcome outcome, int? status, DateTimeOffset? next) =>
        new(id, number, T0, TimeSpan.FromMilliseconds(12), outcome, status, status is null ? AttemptErrorKind.Connection : AttemptErrorKind.HttpStatus, outcome == AttemptOutcome.Delivered ? null : "HTTP 500", next);

    [Fact]
    public async Task Recent_attempts_are_those_made_in_the_window_whenever_their_delivery_was_created()
    {
        // An old delivery retried during an outage, and a new one: the chart's window must show both attempts of the window.
        await Store.EnqueueAsync(new[] { Record("old", T0.AddDays(-3)) with { CreatedAt = T0.AddDays(-3) }, Record("new", T0.AddMinutes(50)) with { CreatedAt = T0.AddMinutes(50) } });
        Assert.Equal(2, (await Store.LeaseDueAsync(T0.AddMinutes(50), 10, T0.AddHours(2))).Count);
        await Store.RecordAttemptAsync(new AttemptLog("old", 1, T0.AddDays(-3), TimeSpan.FromMilliseconds(5), AttemptOutcome.Retry, 503, AttemptErrorKind.HttpStatus, "HTTP 503", T0.AddMinutes(55)), DeliveryStatus.Pending);
        Assert.Single(await Store.LeaseDueAsync(T0.AddMinutes(55), 10, T0.AddHours(2)));
        await Store.RecordAttemptAsync(new AttemptLog("old", 2, T0.AddMinutes(55), TimeSpan.FromMilliseconds(7), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(new AttemptLog("new", 1, T0.AddMinutes(56), TimeSpan.FromMilliseconds(9), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);

        var window = await Store.RecentAttemptsAsync(T0, 100);
        Assert.Equal(new[] { (T0.AddMinutes(56), AttemptOutcome.Delivered), (T0.AddMinutes(55), AttemptOutcome.Delivered) },
            window.OrderByDescending(a => a.StartedAt).Select(a => (a.StartedAt, a.Outcome)));
        Assert.Equal(3, (await Store.RecentAttemptsAsync(T0.AddDays(-4), 100)).Count); // a wider window has the old delivery's first attempt too
    }

    [Fact]
    public async Task Endpoint_states_go_failing_disabled_enabled_and_healthy_and_backlogs_count_due_unleased_rows()
    {
        var states = Assert.IsAssignableFrom<IEndpointStateStore>(Store);
        const string A = "https://a.example.com", B = "https://b.example.com";
        Assert.Empty(await states.EndpointsAsync());

        var (first, started) = await states.RecordEndpointFailuresAsync(A, T0, 2, 1, "HTTP 500");
        Assert.True(started);
        Assert.Equal((EndpointHealth.Failing, T0, 2L, 1L, "HTTP 500", T0), (first.Health, first.FailingSince, first.FailedAttempts, first.FailedDeliveries, first.LastError, first.LastFailureAt));
        var (more, again) = await states.RecordEndpointFailuresAsync(A, T0.AddMinutes(1), 3, 2, "Timeout: no response");
        Assert.False(again);
        Assert.Equal((T0, 5L, 3L, "Timeout: no response", T0.AddMinutes(1)), (more.FailingSince, more.FailedAttempts, more.FailedDeliveries, more.LastError, more.LastFailureAt));

        // A delivered attempt makes it healthy, once; a healthy endpoint has nothing to clear.
        Assert.True(await states.RecordEndpointSuccessAsync(A, T0.AddMinutes(2)));
        Assert.False(await states.RecordEndpointSuccessAsync(A, T0.AddMinutes(2)));
        Assert.False(await states.RecordEndpointSuccessAsync(B, T0.AddMinutes(2)));
        var healthy = Assert.Single(await states.EndpointsAsync());
        Assert.Equal((EndpointHealth.Healthy, (DateTimeOffset?)null, 0L), (healthy.Health, healthy.FailingSince, healthy.FailedAttempts));

        // Failing again starts a new period; disabling keeps the failure history; a second disable changes nothing.
        Assert.True((await states.RecordEndpointFailuresAsync(A, T0.AddMinutes(3), 1, 1, "HTTP 503")).Started);
        Assert.True(await states.DisableEndpointAsync(A, T0.AddMinutes(4), "every attempt failed"));
        Assert.False(await states.DisableEndpointAsync(A, T0.AddMinutes(5), "again"));
        Assert.True(await states.DisableEndpointAsync(B, T0.AddMinutes(4), "by an operator"));
        var disabled = (await states.EndpointsAsync()).ToDictionary(s => s.Endpoint);
        Assert.Equal((EndpointHealth.Disabled, T0.AddMinutes(4), "every attempt failed", T0.AddMinutes(3), "HTTP 503"),
            (disabled[A].Health, disabled[A].DisabledAt, disabled[A].DisabledReason, disabled[A].FailingSince, disabled[A].LastError));
        Assert.Equal((EndpointHealth.Disabled, "by an operator", (DateTimeOffset?)null), (disabled[B].Health, disabled[B].DisabledReason, disabled[B].FailingSince));
        // Failures counted while disabled do not enable it; a success does not either.
        Assert.Equal(EndpointHealth.Disabled, (await states.RecordEndpointFailuresAsync(A, T0.AddMinutes(5), 1, 0, null)).State.Health);
        Assert.False(await states.RecordEndpointSuccessAsync(A, T0.AddMinutes(5)));

        Assert.True(await states.EnableEndpointAsync(A, T0.AddMinutes(6)));
        Assert.False(await states.EnableEndpointAsync(A, T0.AddMinutes(6)));
        var enabled = (await states.EndpointsAsync()).Single(s => s.Endpoint == A);
        Assert.Equal((EndpointHealth.Healthy, (DateTimeOffset?)null, (DateTimeOffset?)null, 0L, T0.AddMinutes(6)), (enabled.Health, enabled.DisabledAt, enabled.FailingSince, enabled.FailedAttempts, enabled.UpdatedAt));

        // Backlog: pending unleased rows due by now, per endpoint, with the oldest due time.
        await Store.EnqueueAsync(new[] { Record("e1", T0.AddMinutes(1), A), Record("e2", T0.AddMinutes(2), A), Record("e3", T0.AddHours(1), A), Record("e4", T0.AddMinutes(3), B), Record("e5", T0, B) });
        Assert.Equal("e5", Assert.Single(await Store.LeaseDueAsync(T0, 1, T0.AddMinutes(10))).Id);
        var backlog = (await states.EndpointBacklogAsync(T0.AddMinutes(5))).ToDictionary(b => b.Endpoint);
        Assert.Equal((2L, T0.AddMinutes(1)), (backlog[A].Due, backlog[A].OldestDue));
        Assert.Equal((1L, T0.AddMinutes(3)), (backlog[B].Due, backlog[B].OldestDue));
    }

    [Fact]
    public async Task Deliveries_stored_leased_are_not_leased_again_until_that_lease_ends()
    {
        if (Store is not ILeasingDeliveryStore leasing)
        {
            Assert.IsType<InMemoryDeliveryStore>(Store); // the only bundled store without the handoff
            return;
        }

        await leasing.EnqueueLeasedAsync(new[] { Record("held-1"), Record("held-2") }, T0.AddMinutes(2));
        await Store.EnqueueAsync(new[] { Record("free-1") });
        Assert.Equal("free-1", Assert.Single(await Store.LeaseDueAsync(T0.AddMinutes(1), 10, T0.AddMinutes(3))).Id);
        Assert.Equal(T0.AddMinutes(2), await Store.NextDueAsync());
        var after = await Store.LeaseDueAsync(T0.AddMinutes(2), 10, T0.AddMinutes(4));
        Assert.Equal(new[] { "held-1", "held-2" }, after.Select(d => d.Id).Order());
        Assert.Equal("{\"id\":\"held-1\"}", Encoding.UTF8.GetString(after.Single(d => d.Id == "held-1").Payload.Span));
    }

    [Fact]
    public async Task Outcomes_recorded_together_are_all_stored_and_an_unknown_id_fails_only_its_own_caller()
    {
        // Written in one go, so that stores which group outcomes into one commit get them as one group.
        var ids = Enumerable.Range(0, 40).Select(i => "o" + i.ToString("D2", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        await Store.EnqueueAsync(ids.Select(id => Record(id)).ToList());
        Assert.Equal(40, (await Store.LeaseDueAsync(T0.AddSeconds(1), 100, T0.AddMinutes(1))).Count);
        var writes = ids.Select(id => Store.RecordAttemptAsync(new AttemptLog(id, 1, T0, TimeSpan.FromMilliseconds(5), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered).AsTask()).ToList();
        Task unknown;
        try
        {
            unknown = Store.RecordAttemptAsync(new AttemptLog("missing", 1, T0, TimeSpan.Zero, AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered).AsTask();
        }
        catch (KeyNotFoundException ex)
        {
            unknown = Task.FromException(ex); // stores that check at once throw before returning a task
        }

        await Task.WhenAll(writes);
        var error = await Assert.ThrowsAsync<KeyNotFoundException>(() => unknown);
        Assert.Contains("'missing'", error.Message);
        foreach (var id in ids)
        {
            var stored = await Store.GetAsync(id);
            Assert.Equal(DeliveryStatus.Delivered, stored!.Status);
            Assert.Equal(1, stored.Attempts);
            Assert.Equal(200, Assert.Single(await Store.AttemptsAsync(id)).StatusCode);
        }
    }

    [Fact]
    public async Task Enqueued_deliveries_read_back_whole()
    {
        await Store.EnqueueAsync(new[] { Record("d1"), Record("d2") });
        var d1 = await Store.GetAsync("d1");
        Assert.NotNull(d1);
        Assert.Equal(("orders", "execution.completed", "orders#0", "webhook", "https://a.example.com", T0, DeliveryStatus.Pending, 0, 4),
            (d1.Ensemble, d1.Event, d1.NotificationKey, d1.Channel, d1.Endpoint, d1.DueAt, d1.Status, d1.Attempts, d1.MaxAttempts));
        Assert.Equal("{\"id\":\"d1\"}", Encoding.UTF8.GetString(d1.Payload.Span));
        Assert.Null(await Store.GetAsync("missing"));
    }

    [Fact]
    public async Task Leasing_takes_the_oldest_due_first_and_hides_them_until_the_lease_ends()
    {
        await Store.EnqueueAsync(new[] { Record("late", T0.AddSeconds(5)), Record("b", T0.AddSeconds(1)), Record("a", T0) });
        var first = await Store.LeaseDueAsync(T0.AddSeconds(2), 10, T0.AddMinutes(2));
        Assert.Equal(new[] { "a", "b" }, first.Select(d => d.Id));
        Assert.Empty(await Store.LeaseDueAsync(T0.AddSeconds(3), 10, T0.AddMinutes(2)));
        Assert.Equal(new[] { "late" }, (await Store.LeaseDueAsync(T0.AddSeconds(6), 10, T0.AddMinutes(2))).Select(d => d.Id));
        // A worker that died leaves its lease to run out; then the deliveries are due again.
        Assert.Equal(new[] { "a", "b", "late" }, (await Store.LeaseDueAsync(T0.AddMinutes(2), 10, T0.AddMinutes(4))).Select(d => d.Id));
        Assert.Single(await Store.LeaseDueAsync(T0.AddMinutes(5), 1, T0.AddMinutes(7)));
    }

    [Fact]
    public async Task Leases_run_out_in_order_of_their_end_whatever_order_they_were_taken_in()
    {
        await Store.EnqueueAsync(new[] { Record("long", T0), Record("short", T0.AddSeconds(1)), Record("middle", T0.AddSeconds(2)), Record("done", T0.AddSeconds(3)) });
        // Leases taken with ends out of order (workers with different lease durations).
        Assert.Equal("long", Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(5), 1, T0.AddMinutes(10))).Id);
        Assert.Equal("short", Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(5), 1, T0.AddMinutes(2))).Id);
        Assert.Equal("middle", Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(5), 1, T0.AddMinutes(5))).Id);
        Assert.Equal("done", Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(5), 1, T0.AddMinutes(3))).Id);
        await Store.RecordAttemptAsync(Attempt("done", 1, AttemptOutcome.Delivered, 200, null), DeliveryStatus.Delivered);

        Assert.Equal(T0.AddMinutes(2), await Store.NextDueAsync());
        Assert.Empty(await Store.LeaseDueAsync(T0.AddMinutes(2).AddTicks(-1), 10, T0.AddHours(1)));
        Assert.Equal(new[] { "short" }, (await Store.LeaseDueAsync(T0.AddMinutes(2), 10, T0.AddHours(1))).Select(d => d.Id));
        Assert.Equal(T0.AddMinutes(5), await Store.NextDueAsync());
        Assert.Equal(new[] { "middle" }, (await Store.LeaseDueAsync(T0.AddMinutes(5), 10, T0.AddHours(1))).Select(d => d.Id));
        Assert.Equal(new[] { "long" }, (await Store.LeaseDueAsync(T0.AddMinutes(10), 10, T0.AddHours(1))).Select(d => d.Id));
        Assert.Equal(T0.AddHours(1), await Store.NextDueAsync());
        Assert.Equal(DeliveryStatus.Delivered, (await Store.GetAsync("done"))!.Status);
    }

    [Fact]
    public async Task Busy_endpoints_are_skipped_when_leasing()
    {
        await Store.EnqueueAsync(new[] { Record("slow1", endpoint: "https://slow.example.com"), Record("slow2", endpoint: "https://slow.example.com"), Record("fast", T0.AddSeconds(1), "https://fast.example.com") });
        var leased = await Store.LeaseDueAsync(T0.AddSeconds(1), 10, T0.AddMinutes(2), new[] { "https://slow.example.com" });
        Assert.Equal(new[] { "fast" }, leased.Select(d => d.Id));
        Assert.Equal(T0, await Store.NextDueAsync());
        Assert.Equal(T0.AddMinutes(2), await Store.NextDueAsync(new[] { "https://slow.example.com" }));
    }

    [Fact]
    public async Task Skipping_busy_endpoints_still_takes_the_other_endpoints_ended_leases_in_due_order()
    {
        await Store.EnqueueAsync(new[]
        {
            Record("a-old", T0, "https://a.example.com"), Record("b-old", T0.AddSeconds(1), "https://b.example.com"),
            Record("c-1", T0.AddSeconds(2), "https://c.example.com"), Record("a-new", T0.AddSeconds(3), "https://a.example.com"),
            Record("c-2", T0.AddSeconds(4), "https://c.example.com"),
        });

        // A worker takes the two oldest and dies; their leases end after a minute.
        Assert.Equal(new[] { "a-old", "b-old" }, (await Store.LeaseDueAsync(T0.AddSeconds(1), 2, T0.AddMinutes(1))).Select(d => d.Id));
        Assert.Equal(new[] { "c-1", "a-new" }, (await Store.LeaseDueAsync(T0.AddSeconds(30), 2, T0.AddMinutes(3), new[] { "https://b.example.com" })).Select(d => d.Id));

        // With endpoint b busy, a's ended lease comes back among the waiting rows of the others, oldest due first.
        Assert.Equal(T0.AddSeconds(4), await Store.NextDueAsync(new[] { "https://b.example.com" }));
        Assert.Equal(new[] { "a-old", "c-2" }, (await Store.LeaseDueAsync(T0.AddMinutes(1), 10, T0.AddMinutes(3), new[] { "https://b.example.com" })).Select(d => d.Id));
        Assert.Equal(new[] { "b-old" }, (await Store.LeaseDueAsync(T0.AddMinutes(1), 10, T0.AddMinutes(3))).Select(d => d.Id));
        Assert.Equal(T0.AddMinutes(3), await Store.NextDueAsync());
    }

    [Fact]
    public async Task Text_of_any_kind_and_length_reads_back_as_written()
    {
        // Non-ASCII (two- to four-byte UTF-8), an empty value and values longer than the SQLite store's short-text fast path.
        var unicode = "ordres-é-日本-🚀";
        var longText = string.Concat(Enumerable.Repeat("é🚀x", 200));
        await Store.EnqueueAsync(new[]
        {
            Record("u1", endpoint: "https://ü.example.com/" + longText, ensemble: unicode, @event: "exécution.terminée") with { TraceParent = "00-" + unicode },
            Record("u2") with { NotificationKey = "" },
        });
        var u1 = (await Store.GetAsync("u1"))!;
        Assert.Equal((unicode, "exécution.terminée", unicode + "#0", "https://ü.example.com/" + longText, "00-" + unicode),
            (u1.Ensemble, u1.Event, u1.NotificationKey, u1.Endpoint, u1.TraceParent));
        Assert.Equal("", (await Store.GetAsync("u2"))!.NotificationKey);

        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        foreach (var (id, error) in new[] { ("u1", "HTTP 500: réponse " + longText), ("u2", "") })
        {
            await Store.RecordAttemptAsync(new AttemptLog(id, 1, T0, TimeSpan.Zero, AttemptOutcome.Retry, 500, AttemptErrorKind.HttpStatus, error, T0.AddSeconds(1)), DeliveryStatus.Pending);
            Assert.Equal(error, (await Store.GetAsync(id))!.LastError);
            Assert.Equal(error, Assert.Single(await Store.AttemptsAsync(id)).Error);
        }
    }

    [Fact]
    public async Task Attempts_move_deliveries_on_and_are_logged()
    {
        await Store.EnqueueAsync(new[] { Record("ok"), Record("retry"), Record("dead") });
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        await Store.RecordAttemptAsync(Attempt("ok", 1, AttemptOutcome.Delivered, 200, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(Attempt("retry", 1, AttemptOutcome.Retry, 500, T0.AddSeconds(1)), DeliveryStatus.Pending);
        await Store.RecordAttemptAsync(Attempt("dead", 1, AttemptOutcome.Permanent, 404, null), DeliveryStatus.DeadLettered);

        Assert.Equal(DeliveryStatus.Delivered, (await Store.GetAsync("ok"))!.Status);
        var retry = (await Store.GetAsync("retry"))!;
        Assert.Equal((DeliveryStatus.Pending, 1, T0.AddSeconds(1), 500, "HTTP 500"), (retry.Status, retry.Attempts, retry.DueAt, retry.LastStatusCode, retry.LastError));
        var dead = (await Store.GetAsync("dead"))!;
        Assert.Equal((DeliveryStatus.DeadLettered, 404, AttemptErrorKind.HttpStatus), (dead.Status, dead.LastStatusCode, dead.LastErrorKind));
        // The retry is due again at its time (its lease was cleared by the attempt).
        Assert.Equal(new[] { "retry" }, (await Store.LeaseDueAsync(T0.AddSeconds(1), 10, T0.AddMinutes(2))).Select(d => d.Id));
        var log = Assert.Single(await Store.AttemptsAsync("retry"));
        Assert.Equal((1, AttemptOutcome.Retry, 500, T0.AddSeconds(1), TimeSpan.FromMilliseconds(12)), (log.Number, log.Outcome, log.StatusCode, log.NextDueAt, log.Duration));
    }

    [Fact]
    public async Task A_second_endpoint_is_ordered_with_the_first_by_due_time()
    {
        await Store.EnqueueAsync(new[] { Record("a-late", T0.AddSeconds(5), "https://a.example.com"), Record("a-later", T0.AddSeconds(6), "https://a.example.com") });
        Assert.Equal(T0.AddSeconds(5), await Store.NextDueAsync());
        await Store.EnqueueAsync(new[] { Record("b-early", T0.AddSeconds(1), "https://b.example.com") });
        Assert.Equal(T0.AddSeconds(1), await Store.NextDueAsync());
        Assert.Equal(T0.AddSeconds(5), await Store.NextDueAsync(new[] { "https://b.example.com" }));
        Assert.Equal(new[] { "b-early", "a-late", "a-later" }, (await Store.LeaseDueAsync(T0.AddSeconds(10), 10, T0.AddMinutes(1))).Select(d => d.Id));
    }

    [Fact]
    public async Task Deliveries_changed_while_waiting_leave_the_queue_and_the_rest_keep_their_order()
    {
        // 200 due at once; 150 of them are recorded or released before any is leased (an admin tool, another worker).
        var ids = Enumerable.Range(0, 200).Select(i => $"d{i:D3}").ToArray();
        await Store.EnqueueAsync(ids.Select(id => Record(id)).ToArray());
        for (var i = 0; i < 200; i++)
        {
            if (i % 4 == 0) continue;
            if (i % 4 == 3) await Store.ReleaseAsync(ids[i], T0.AddMinutes(1));
            else await Store.RecordAttemptAsync(Attempt(ids[i], 1, AttemptOutcome.Delivered, 200, null), DeliveryStatus.Delivered);
        }

        Assert.Equal(ids.Where((_, i) => i % 4 == 0), (await Store.LeaseDueAsync(T0, 500, T0.AddMinutes(10))).Select(d => d.Id));
        Assert.Equal(T0.AddMinutes(1), await Store.NextDueAsync());
        Assert.Equal(ids.Where((_, i) => i % 4 == 3), (await Store.LeaseDueAsync(T0.AddMinutes(1), 500, T0.AddMinutes(10))).Select(d => d.Id));
        Assert.Empty(await Store.LeaseDueAsync(T0.AddMinutes(5), 500, T0.AddMinutes(10)));
        Assert.Equal(T0.AddMinutes(10), await Store.NextDueAsync());
    }

    [Fact]
    public async Task Released_deliveries_wait_until_their_new_time()
    {
        await Store.EnqueueAsync(new[] { Record("d") });
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        await Store.ReleaseAsync("d", T0.AddSeconds(30));
        Assert.Empty(await Store.LeaseDueAsync(T0.AddSeconds(29), 10, T0.AddMinutes(2)));
        Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(30), 10, T0.AddMinutes(2)));
    }

    [Fact]
    public async Task Replay_gives_dead_letters_a_fresh_budget_and_nothing_else()
    {
        await Store.EnqueueAsync(new[] { Record("dead", maxAttempts: 2), Record("pending") });
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        await Store.RecordAttemptAsync(Attempt("dead", 1, AttemptOutcome.Retry, 500, T0.AddSeconds(1)), DeliveryStatus.Pending);
        await Store.LeaseDueAsync(T0.AddSeconds(1), 10, T0.AddMinutes(2));
        await Store.RecordAttemptAsync(Attempt("dead", 2, AttemptOutcome.Retry, 500, null), DeliveryStatus.DeadLettered);

        Assert.False(await Store.ReplayAsync("pending", T0.AddHours(1)));
        Assert.True(await Store.ReplayAsync("dead", T0.AddHours(1)));
        var replayed = (await Store.GetAsync("dead"))!;
        Assert.Equal((DeliveryStatus.Pending, 2, 4, T0.AddHours(1)), (replayed.Status, replayed.Attempts, replayed.MaxAttempts, replayed.DueAt));
    }

    [Fact]
    public async Task Listing_filters_by_ensemble_event_status_and_time()
    {
        await Store.EnqueueAsync(new[] { Record("a"), Record("b", ensemble: "invoices"), Record("c", @event: "execution.failed") });
        Assert.Equal(new[] { "c", "a" }, (await Store.ListAsync(new DeliveryQuery(Ensemble: "orders"))).Select(d => d.Id));
        Assert.Equal(new[] { "c" }, (await Store.ListAsync(new DeliveryQuery(Event: "execution.failed"))).Select(d => d.Id));
        Assert.Equal(3, (await Store.ListAsync(new DeliveryQuery(Status: DeliveryStatus.Pending, Since: T0))).Count);
        Assert.Empty(await Store.ListAsync(new DeliveryQuery(Since: T0.AddSeconds(1))));
        Assert.Single(await Store.ListAsync(new DeliveryQuery(Limit: 1)));
    }

    [Fact]
    public async Task Purge_deletes_only_finished_deliveries_older_than_the_cut()
    {
        await Store.EnqueueAsync(new[] { Record("done"), Record("dead"), Record("pending") });
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        await Store.RecordAttemptAsync(Attempt("done", 1, AttemptOutcome.Delivered, 200, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(Attempt("dead", 1, AttemptOutcome.Permanent, 404, null), DeliveryStatus.DeadLettered);
        Assert.Equal(0, await Store.PurgeAsync(T0));
        Assert.Equal(2, await Store.PurgeAsync(T0.AddSeconds(1)));
        Assert.Equal(new[] { "pending" }, (await Store.ListAsync(new DeliveryQuery())).Select(d => d.Id));
        Assert.Empty(await Store.AttemptsAsync("pending"));
    }

    /// <summary>The attempts still stored for a delivery (the in-memory store refuses to list those of an unknown delivery).</summary>
    private async Task<int> AttemptsLeftAsync(string id)
    {
        try
        {
            return (await Store.AttemptsAsync(id)).Count;
        }
        catch (KeyNotFoundException)
        {
            return 0;
        }
    }

    [Fact]
    public async Task Prune_removes_finished_deliveries_by_when_they_finished_and_never_pending_leased_or_replayed_ones()
    {
        var pruning = Assert.IsAssignableFrom<IPruningDeliveryStore>(Store);
        await Store.EnqueueAsync(new[] { Record("done-early"), Record("done-late"), Record("dead"), Record("replayed"), Record("retrying"), Record("leased"), Record("waiting", due: T0.AddDays(30)) });
        await Store.LeaseDueAsync(T0, 5, T0.AddMinutes(2));
        // Finished at T0 + 10 ms and T0 + 1 h + 10 ms (the end of the attempt); created at T0 like all others.
        await Store.RecordAttemptAsync(new AttemptLog("done-early", 1, T0, TimeSpan.FromMilliseconds(10), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(new AttemptLog("done-late", 1, T0.AddHours(1), TimeSpan.FromMilliseconds(10), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(Attempt("dead", 1, AttemptOutcome.Permanent, 410, null), DeliveryStatus.DeadLettered);
        await Store.RecordAttemptAsync(Attempt("replayed", 1, AttemptOutcome.Permanent, 410, null), DeliveryStatus.DeadLettered);
        await Store.RecordAttemptAsync(Attempt("retrying", 1, AttemptOutcome.Retry, 500, T0.AddSeconds(1)), DeliveryStatus.Pending);
        Assert.Equal(T0.AddMilliseconds(10), (await Store.GetAsync("done-early"))!.FinishedAt);
        Assert.Equal(T0.AddHours(1).AddMilliseconds(10), (await Store.GetAsync("done-late"))!.FinishedAt);
        Assert.Null((await Store.GetAsync("retrying"))!.FinishedAt);
        Assert.True(await Store.ReplayAsync("replayed", T0.AddDays(1)));
        Assert.Null((await Store.GetAsync("replayed"))!.FinishedAt);

        await Assert.ThrowsAsync<ArgumentException>(async () => await pruning.PruneAsync(DeliveryStatus.Pending, DateTimeOffset.MaxValue, 10));
        // Between the two ends: only the early one.
        Assert.Equal(1, await pruning.PruneAsync(DeliveryStatus.Delivered, T0.AddMinutes(30), 10));
        Assert.Null(await Store.GetAsync("done-early"));
        Assert.Equal(0, await AttemptsLeftAsync("done-early"));
        Assert.Equal(1, await AttemptsLeftAsync("done-late"));
        Assert.Equal(0, await pruning.PruneAsync(DeliveryStatus.Delivered, T0.AddMinutes(30), 10));
        // Far in the future: every finished one of that status, and nothing else, whatever was created when.
        Assert.Equal(1, await pruning.PruneAsync(DeliveryStatus.Delivered, T0.AddYears(5), 10));
        Assert.Equal(1, await pruning.PruneAsync(DeliveryStatus.DeadLettered, T0.AddYears(5), 10));
        Assert.Equal(new[] { "leased", "replayed", "retrying", "waiting" }, (await Store.ListAsync(new DeliveryQuery())).Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Single(await Store.AttemptsAsync("retrying"));

        var usage = await pruning.UsageAsync();
        Assert.Equal((4L, 0L, 0L), (usage.Pending, usage.Delivered, usage.DeadLettered));
        Assert.True(usage.Bytes > 0);
        Assert.True(await pruning.SizeAsync() > 0);
    }

    [Fact]
    public async Task Pruning_in_batches_removes_everything_expired_and_the_attempts_with_it()
    {
        var ids = Enumerable.Range(0, 1234).Select(i => $"b{i:D4}").ToList();
        await Store.EnqueueAsync(ids.Select(id => Record(id)).ToList());
        Assert.Equal(1234, (await Store.LeaseDueAsync(T0, 2000, T0.AddMinutes(2))).Count);
        foreach (var id in ids) await Store.RecordAttemptAsync(Attempt(id, 1, AttemptOutcome.Delivered, 200, null), DeliveryStatus.Delivered);

        Assert.Equal(1234, await DeliveryPruning.PruneAsync(Store, DeliveryStatus.Delivered, T0.AddSeconds(1)));
        Assert.Empty(await Store.ListAsync(new DeliveryQuery()));
        Assert.Equal(0, await AttemptsLeftAsync(ids[0]));
        Assert.Equal(0, await AttemptsLeftAsync(ids[^1]));
        Assert.Equal(0L, (await ((IPruningDeliveryStore)Store).UsageAsync()).Delivered);
    }

    [Fact]
    public async Task Purge_by_status_deletes_only_that_status_and_never_pending()
    {
        await Store.EnqueueAsync(new[] { Record("done"), Record("dead"), Record("pending") });
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        await Store.RecordAttemptAsync(Attempt("done", 1, AttemptOutcome.Delivered, 200, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(Attempt("dead", 1, AttemptOutcome.Permanent, 404, null), DeliveryStatus.DeadLettered);
        await Assert.ThrowsAsync<ArgumentException>(async () => await Store.PurgeAsync(T0.AddSeconds(1), DeliveryStatus.Pending));
        Assert.Equal(1, await Store.PurgeAsync(T0.AddSeconds(1), DeliveryStatus.DeadLettered));
        Assert.Null(await Store.GetAsync("dead"));
        Assert.Single(await Store.AttemptsAsync("done"));
        Assert.Equal(new[] { "done", "pending" }, (await Store.ListAsync(new DeliveryQuery())).Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Equal(1, await Store.PurgeAsync(T0.AddSeconds(1), (DeliveryStatus?)null));
        Assert.Equal(new[] { "pending" }, (await Store.ListAsync(new DeliveryQuery())).Select(d => d.Id));
    }

    [Fact]
    public async Task Enqueues_racing_with_leases_and_outcomes_lease_each_delivery_exactly_once()
    {
        // Producers on the thread pool while a consumer leases and records outcomes: every delivery is leased once,
        // and a delivered one never comes back (a late enqueue must not schedule a record that already changed).
        const int Count = 400;
        var producers = Enumerable.Range(0, Count)
            .Select(i => Task.Run(async () => await Store.EnqueueAsync(new[] { Record($"r{i:D4}") })))
            .ToArray();
        var leased = new List<string>();
        var consumer = Task.Run(async () =>
        {
            while (leased.Count < Count)
            {
                foreach (var delivery in await Store.LeaseDueAsync(T0, 50, T0.AddMinutes(1)))
                {
                    leased.Add(delivery.Id);
                    await Store.RecordAttemptAsync(new AttemptLog(delivery.Id, 1, T0, TimeSpan.Zero, AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
                }
            }
        });
        await Task.WhenAll(producers);
        await consumer.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(Count, leased.Count);
        Assert.Equal(Count, leased.Distinct().Count());
        Assert.Empty(await Store.LeaseDueAsync(T0.AddHours(1), 1000, T0.AddHours(2)));
    }

    [Fact]
    public async Task Concurrent_enqueues_are_all_stored()
    {
        var tasks = Enumerable.Range(0, 500).Select(i => Store.EnqueueAsync(new[] { Record($"c{i:D4}") }).AsTask());
        await Task.WhenAll(tasks);
        Assert.Equal(500, (await Store.LeaseDueAsync(T0, 1000, T0.AddMinutes(1))).Count);
    }

    [Fact]
    public async Task The_trace_parent_of_the_Notify_call_is_stored_with_the_delivery()
    {
        const string trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await Store.EnqueueAsync(new[] { Record("traced") with { TraceParent = trace }, Record("untraced") });

        Assert.Equal(trace, (await Store.GetAsync("traced"))!.TraceParent);
        Assert.Null((await Store.GetAsync("untraced"))!.TraceParent);
        var leased = await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(1));
        Assert.Equal(trace, leased.Single(d => d.Id == "traced").TraceParent);
        Assert.Null(leased.Single(d => d.Id == "untraced").TraceParent);
    }

    [Fact]
    public async Task Listing_filters_by_channel_time_and_search_and_pages_by_keyset_without_gaps_or_repeats()
    {
        // 25 deliveries, three per millisecond so that pages split ties on the creation time.
        var records = Enumerable.Range(0, 25).Select(i => Record($"dlv_{i:D3}", endpoint: i % 5 == 0 ? "https://billing.example.com" : "https://a.example.com") with
        {
            CreatedAt = T0.AddMilliseconds(i / 3),
            Channel = i % 2 == 0 ? "webhook" : "email",
        }).ToList();
        await Store.EnqueueAsync(records);

        var seen = new List<string>();
        DeliveryCursor? cursor = null;
        while (true)
        {
            var page = await Store.ListAsync(new DeliveryQuery(Limit: 4, Before: cursor));
            seen.AddRange(page.Select(d => d.Id));
            if (page.Count < 4) break;
            cursor = DeliveryCursor.After(page[^1]);
            Assert.True(DeliveryCursor.TryParse(cursor.ToString(), out var parsed) && parsed == cursor);
        }

        var newestFirst = records.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id, StringComparer.Ordinal).Select(r => r.Id).ToList();
        Assert.Equal(newestFirst, seen);

        Assert.Equal(13, (await Store.ListAsync(new DeliveryQuery(Channel: "webhook", Limit: 100))).Count);
        var window = await Store.ListAsync(new DeliveryQuery(Since: T0.AddMilliseconds(2), Until: T0.AddMilliseconds(4), Limit: 100));
        Assert.Equal(new[] { "dlv_011", "dlv_010", "dlv_009", "dlv_008", "dlv_007", "dlv_006" }, window.Select(d => d.Id));
        Assert.Equal(new[] { "dlv_020", "dlv_015", "dlv_010", "dlv_005", "dlv_000" }, (await Store.ListAsync(new DeliveryQuery(Search: "BILLING", Limit: 100))).Select(d => d.Id));
        Assert.Equal(new[] { "dlv_019", "dlv_018", "dlv_017", "dlv_016", "dlv_015", "dlv_014", "dlv_013", "dlv_012", "dlv_011", "dlv_010" }, (await Store.ListAsync(new DeliveryQuery(Search: "dlv_01", Limit: 100))).Select(d => d.Id));
        Assert.Empty(await Store.ListAsync(new DeliveryQuery(Search: "%", Limit: 100))); // LIKE wildcards are literal
        Assert.False(DeliveryCursor.TryParse("not-a-cursor", out _));
    }
}

public sealed class InMemoryDeliveryStoreTests : DeliveryStoreContractTests
{
    protected override IDeliveryStore CreateStore() => new InMemoryDeliveryStore();

    [Fact]
    public async Task A_purged_delivery_s_place_goes_to_a_new_one_that_is_leased_once()
    {
        // "x" leaves two outdated entries in the due order (released, then finished while waiting), is purged, and "y" takes
        // its place in the store: an outdated entry must not hand "y" out at x's old time, nor twice.
        await Store.EnqueueAsync(new[] { Record("a", T0), Record("x", T0.AddSeconds(1)) });
        await Store.ReleaseAsync("x", T0.AddSeconds(6));
        await Store.RecordAttemptAsync(new AttemptLog("x", 1, T0, TimeSpan.Zero, AttemptOutcome.Permanent, 410, AttemptErrorKind.HttpStatus, "HTTP 410", null), DeliveryStatus.DeadLettered);
        Assert.Equal(1, await Store.PurgeAsync(T0.AddSeconds(1)));
        await Store.EnqueueAsync(new[] { Record("y", T0.AddSeconds(5)) });

        Assert.Equal(new[] { "a" }, (await Store.LeaseDueAsync(T0.AddSeconds(2), 10, T0.AddMinutes(2))).Select(d => d.Id));
        Assert.Equal(new[] { "y" }, (await Store.LeaseDueAsync(T0.AddSeconds(10), 10, T0.AddMinutes(2))).Select(d => d.Id));
        Assert.Empty(await Store.LeaseDueAsync(T0.AddSeconds(10), 10, T0.AddMinutes(2)));
        Assert.Null(await Store.GetAsync("x"));
        Assert.Empty(await Store.AttemptsAsync("y"));
    }

    [Fact]
    public async Task Payloads_stay_exact_while_the_store_reuses_their_memory()
    {
        // Waves of ~1 KB payloads (tens of the store's payload blocks each), purged between waves, so that later waves reuse
        // (and, past the kept few, drop and replace) the memory of earlier ones. A dead letter and a delivery waiting for its
        // retry live on through the later waves, and records read before a purge keep their bytes.
        static byte[] Body(string id, int i) => Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\",\"pad\":\"{new string((char)('a' + i % 26), 980)}\"}}");
        DeliveryRecord Numbered(string id, int i) => Record(id) with { Payload = Body(id, i) };
        var readBefore = new List<(DeliveryRecord Record, byte[] Body)>();
        for (var wave = 0; wave < 3; wave++)
        {
            var records = Enumerable.Range(0, 6000).Select(i => Numbered($"w{wave}-{i:D4}", i + wave)).ToList();
            await Store.EnqueueAsync(records);
            var leased = await Store.LeaseDueAsync(T0, 10_000, T0.AddMinutes(2));
            Assert.Equal(6000, leased.Count);
            for (var i = 0; i < leased.Count; i++)
            {
                Assert.Equal(Body(leased[i].Id, i + wave), leased[i].Payload.ToArray());
                var (outcome, next, status) = i switch
                {
                    17 => (AttemptOutcome.Permanent, (DateTimeOffset?)null, DeliveryStatus.DeadLettered),
                    4321 => (AttemptOutcome.Retry, T0.AddDays(1), DeliveryStatus.Pending),
                    _ => (AttemptOutcome.Delivered, null, DeliveryStatus.Delivered),
                };
                await Store.RecordAttemptAsync(new AttemptLog(leased[i].Id, 1, T0, TimeSpan.Zero, outcome, 500, AttemptErrorKind.HttpStatus, null, next), status);
            }

            var kept = (await Store.GetAsync($"w{wave}-5999"))!;
            readBefore.Add((kept, Body(kept.Id, 5999 + wave)));
            Assert.Equal(5998, await Store.PurgeAsync(T0.AddSeconds(1), DeliveryStatus.Delivered));
        }

        foreach (var (record, body) in readBefore) Assert.Equal(body, record.Payload.ToArray());
        for (var wave = 0; wave < 3; wave++)
        {
            Assert.Equal(Body($"w{wave}-0017", 17 + wave), (await Store.GetAsync($"w{wave}-0017"))!.Payload.ToArray());
            Assert.Equal(Body($"w{wave}-4321", 4321 + wave), (await Store.GetAsync($"w{wave}-4321"))!.Payload.ToArray());
            Assert.True(await Store.ReplayAsync($"w{wave}-0017", T0));
        }

        var again = await Store.LeaseDueAsync(T0.AddDays(2), 100, T0.AddDays(3));
        Assert.Equal(6, again.Count);
        Assert.All(again, d => Assert.Equal(Body(d.Id, int.Parse(d.Id[3..]) + int.Parse(d.Id[1..2])), d.Payload.ToArray()));
    }

    [Fact]
    public async Task A_group_that_fails_leaves_nothing_behind_and_its_payload_space_is_reused()
    {
        // ~10 KB payloads, so that a group of 30 spans several of the store's payload blocks.
        static DeliveryRecord Big(string id, char fill) => Record(id) with { Payload = Encoding.UTF8.GetBytes(id + new string(fill, 10_000)) };
        await Store.EnqueueAsync(new[] { Big("existing", 'e') });
        var group = Enumerable.Range(0, 29).Select(i => Big($"n{i:D2}", 'n')).Append(Big("existing", 'x')).ToList();
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Store.EnqueueAsync(group));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Store.EnqueueAsync(new[] { Big("twice", 'a'), Big("twice", 'b') }));
        var missing = await Assert.ThrowsAsync<ArgumentException>(async () => await Store.EnqueueAsync(new[] { Big("fine", 'f'), Record("x") with { Id = null! } }));
        Assert.Contains("Delivery 1 of the group has no id", missing.Message);
        Assert.Equal(new[] { "existing" }, (await Store.ListAsync(new DeliveryQuery())).Select(d => d.Id));
        Assert.Equal(new[] { "existing" }, (await Store.LeaseDueAsync(T0, 100, T0.AddMinutes(2))).Select(d => d.Id));

        // The same ids can be stored afterwards, and every payload reads back exactly.
        await Store.EnqueueAsync(group.Take(29).Append(Big("twice", 't')).Append(Big("fine", 'f')).ToList());
        Assert.Equal(31, (await Store.LeaseDueAsync(T0, 100, T0.AddMinutes(2))).Count);
        foreach (var record in group.Take(29).Append(Big("twice", 't')).Append(Big("fine", 'f')).Append(Big("existing", 'e')))
        {
            Assert.Equal(record.Payload.ToArray(), (await Store.GetAsync(record.Id))!.Payload.ToArray());
        }
    }

    [Fact]
    public async Task Recipients_sharing_a_payload_keep_it_through_purges_and_replays()
    {
        var shared = Encoding.UTF8.GetBytes("{\"shared\":true}");
        await Store.EnqueueAsync(new[] { "r0", "r1", "r2" }.Select(id => Record(id) with { Payload = shared }).ToList());
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(2));
        await Store.RecordAttemptAsync(new AttemptLog("r0", 1, T0, TimeSpan.Zero, AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        await Store.RecordAttemptAsync(new AttemptLog("r1", 1, T0, TimeSpan.Zero, AttemptOutcome.Permanent, 410, AttemptErrorKind.HttpStatus, "HTTP 410", null), DeliveryStatus.DeadLettered);
        await Store.RecordAttemptAsync(new AttemptLog("r2", 1, T0, TimeSpan.Zero, AttemptOutcome.Retry, 500, AttemptErrorKind.HttpStatus, "HTTP 500", T0.AddHours(1)), DeliveryStatus.Pending);
        Assert.Equal(1, await Store.PurgeAsync(T0.AddSeconds(1), DeliveryStatus.Delivered));
        // Other deliveries take the freed space meanwhile.
        await Store.EnqueueAsync(Enumerable.Range(0, 200).Select(i => Record($"o{i}") with { Payload = Encoding.UTF8.GetBytes(new string('o', 900)) }).ToList());
        Assert.True(await Store.ReplayAsync("r1", T0));
        Assert.Equal(shared, (await Store.GetAsync("r1"))!.Payload.ToArray());
        Assert.Equal(shared, (await Store.GetAsync("r2"))!.Payload.ToArray());
        var again = await Store.LeaseDueAsync(T0.AddHours(2), 500, T0.AddHours(3));
        Assert.All(again.Where(d => d.Id.StartsWith('r')), d => Assert.Equal(shared, d.Payload.ToArray()));
        Assert.Equal(new[] { "r1", "r2" }, again.Where(d => d.Id.StartsWith('r')).Select(d => d.Id).Order());
    }

    [Fact]
    public async Task A_retry_left_alone_in_a_purged_stretch_of_payloads_keeps_its_bytes()
    {
        // 600 payloads of ~1 KB fill a few of the store's payload blocks; all but one retry are delivered and purged, so
        // the retry's block is mostly empty and its bytes move out, and the next 600 reuse that block.
        static DeliveryRecord Kb(string id, char fill) => Record(id) with { Payload = Encoding.UTF8.GetBytes(id + new string(fill, 1000)) };
        await Store.EnqueueAsync(Enumerable.Range(0, 600).Select(i => Kb($"a{i:D3}", 'a')).ToList());
        foreach (var delivery in await Store.LeaseDueAsync(T0, 1000, T0.AddMinutes(2)))
        {
            var retry = delivery.Id == "a100";
            await Store.RecordAttemptAsync(new AttemptLog(delivery.Id, 1, T0, TimeSpan.Zero, retry ? AttemptOutcome.Retry : AttemptOutcome.Delivered, retry ? 503 : 200,
                retry ? AttemptErrorKind.HttpStatus : AttemptErrorKind.None, null, retry ? T0.AddMinutes(5) : null), retry ? DeliveryStatus.Pending : DeliveryStatus.Delivered);
        }

        Assert.Equal(599, await Store.PurgeAsync(T0.AddSeconds(1)));
        await Store.EnqueueAsync(Enumerable.Range(0, 600).Select(i => Kb($"b{i:D3}", 'b')).ToList());
        Assert.Equal(Kb("a100", 'a').Payload.ToArray(), (await Store.GetAsync("a100"))!.Payload.ToArray());
        var leased = await Store.LeaseDueAsync(T0.AddMinutes(5), 1000, T0.AddMinutes(7));
        Assert.Equal(601, leased.Count);
        Assert.All(leased, d => Assert.Equal(Kb(d.Id, d.Id[0]).Payload.ToArray(), d.Payload.ToArray()));
    }

    [Fact]
    public async Task A_finished_lease_does_not_outlive_its_delivery_into_the_slot_s_next_one()
    {
        await Store.EnqueueAsync(new[] { Record("a") });
        await Store.LeaseDueAsync(T0, 10, T0.AddMinutes(1));
        await Store.RecordAttemptAsync(new AttemptLog("a", 1, T0, TimeSpan.Zero, AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        Assert.Equal(1, await Store.PurgeAsync(T0.AddSeconds(1)));
        await Store.EnqueueAsync(new[] { Record("b", T0.AddMinutes(10)) });
        Assert.Equal(T0.AddMinutes(10), await Store.NextDueAsync());
        Assert.Empty(await Store.LeaseDueAsync(T0.AddMinutes(2), 10, T0.AddMinutes(4)));
        Assert.Equal(new[] { "b" }, (await Store.LeaseDueAsync(T0.AddMinutes(10), 10, T0.AddMinutes(12))).Select(d => d.Id));
    }

    [Fact]
    public async Task Ids_of_every_shape_read_back_exactly()
    {
        // The store keeps ids made by NewId as numbers; every other id is kept as it is, and all read back unchanged.
        var ids = new[]
        {
            DeliveryRecord.NewId(TimeProvider.System), "dlv_00000000000000000000000000000000", "dlv_ffffffffffffffffffffffffffffffff",
            "dlv_0123456789ABCDEF0123456789abcdef", "dlv_0123456789abcdef0123456789abcde", "dlv_0123456789abcdef0123456789abcdefa",
            "DLV_0123456789abcdef0123456789abcdef", "dlv-0123456789abcdef0123456789abcdef", "d1", "",
        };
        await Store.EnqueueAsync(ids.Select(id => Record(id)).ToList());
        foreach (var id in ids) Assert.Equal(id, (await Store.GetAsync(id))?.Id);
        Assert.Equal(ids.Order(StringComparer.Ordinal), (await Store.ListAsync(new DeliveryQuery())).Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Equal(ids, (await Store.LeaseDueAsync(T0, 20, T0.AddMinutes(2))).Select(d => d.Id));
        foreach (var id in ids) await Store.RecordAttemptAsync(new AttemptLog(id, 1, T0, TimeSpan.Zero, AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
        foreach (var id in ids) Assert.Equal(id, (await Store.AttemptsAsync(id)).Single().DeliveryId);
        Assert.Null(await Store.GetAsync("dlv_0123456789abcdef0123456789ABCDEF"));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Store.EnqueueAsync(new[] { Record(ids[0]) }));
    }

    [Fact]
    public async Task Thousands_of_deliveries_across_purges_keep_their_order_and_attempts()
    {
        // More deliveries than one block of the store's slots, purged and refilled: each is leased once, in due order,
        // and keeps its own attempts.
        for (var wave = 0; wave < 3; wave++)
        {
            var records = Enumerable.Range(0, 2500).Select(i => Record($"w{wave}-{i:D4}", T0.AddMilliseconds(i))).ToList();
            await Store.EnqueueAsync(records);
            var leased = await Store.LeaseDueAsync(T0.AddSeconds(10), 5000, T0.AddMinutes(2));
            Assert.Equal(records.Select(r => r.Id), leased.Select(d => d.Id));
            foreach (var delivery in leased)
            {
                await Store.RecordAttemptAsync(new AttemptLog(delivery.Id, 1, T0, TimeSpan.FromMilliseconds(3), AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);
            }

            var last = (await Store.AttemptsAsync(records[^1].Id)).Single();
            Assert.Equal((records[^1].Id, 1, 200), (last.DeliveryId, last.Number, last.StatusCode));
            Assert.Equal(DeliveryStatus.Delivered, (await Store.GetAsync(records[1234].Id))!.Status);
            Assert.Equal(2500, await Store.PurgeAsync(T0.AddSeconds(1)));
            Assert.Empty(await Store.ListAsync(new DeliveryQuery()));
        }
    }
}

public sealed class SqliteDeliveryStoreTests : DeliveryStoreContractTests
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "conductor-store-" + Guid.NewGuid().ToString("N"), "deliveries.db");

    protected override IDeliveryStore CreateStore() => new SqliteDeliveryStore(_path);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);
    }

    [Fact]
    public async Task Deliveries_and_leases_survive_closing_the_file()
    {
        await Store.EnqueueAsync(new[] { Record("kept"), Record("held") });
        Assert.Equal("held", Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(5), 1, T0.AddMinutes(2))).Id); // leased by a worker that then dies
        await ((IAsyncDisposable)Store).DisposeAsync();

        await using var reopened = new SqliteDeliveryStore(_path);
        Assert.Equal(new[] { "kept" }, (await reopened.LeaseDueAsync(T0.AddSeconds(1), 10, T0.AddMinutes(3))).Select(d => d.Id));
        Assert.Equal(new[] { "held" }, (await reopened.LeaseDueAsync(T0.AddMinutes(2), 10, T0.AddMinutes(4))).Select(d => d.Id));
    }

    [Fact]
    public async Task A_delivery_attempted_by_another_process_is_leased_with_its_stored_state()
    {
        // This store keeps what it enqueued for the first lease; another process on the same file attempts the delivery
        // first (a retry, due later), so this store's lease must return the stored attempt count and due time.
        await Store.EnqueueAsync(new[] { Record("shared") });
        await using (var other = new SqliteDeliveryStore(_path))
        {
            Assert.Equal("shared", Assert.Single(await other.LeaseDueAsync(T0.AddSeconds(1), 1, T0.AddMinutes(1))).Id);
            await other.RecordAttemptAsync(new AttemptLog("shared", 1, T0, TimeSpan.Zero, AttemptOutcome.Retry, 503, AttemptErrorKind.HttpStatus, "HTTP 503", T0.AddSeconds(30)), DeliveryStatus.Pending);
        }

        Assert.Empty(await Store.LeaseDueAsync(T0.AddSeconds(10), 10, T0.AddMinutes(2)));
        var leased = Assert.Single(await Store.LeaseDueAsync(T0.AddSeconds(31), 10, T0.AddMinutes(2)));
        Assert.Equal(1, leased.Attempts);
        Assert.Equal(T0.AddSeconds(30), leased.DueAt);
        Assert.Equal(503, leased.LastStatusCode);
    }

    [Fact]
    public async Task A_duplicate_id_fails_its_group_without_storing_it()
    {
        await Store.EnqueueAsync(new[] { Record("same") });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Store.EnqueueAsync(new[] { Record("same") }));
        Assert.Contains("could not be stored", error.Message);
        Assert.Single(await Store.ListAsync(new DeliveryQuery()));
    }

    [Fact]
    public async Task Writes_are_reused_once_their_callers_have_the_result_and_the_spares_stay_bounded()
    {
        var store = (SqliteDeliveryStore)Store;
        await store.EnqueueAsync(new[] { Record("first") });
        Assert.Equal(1, store.SpareWrites);
        // The same write serves the next caller; a failed one (an unknown id) comes back as well, and its error does not
        // reach the caller after it.
        var unknown = await Assert.ThrowsAsync<KeyNotFoundException>(async () => await store.RecordAttemptAsync(
            new AttemptLog("missing", 1, T0, TimeSpan.Zero, AttemptOutcome.Delivered, 200, AttemptErrorKind.None, null, null), DeliveryStatus.Delivered));
        Assert.Contains("missing", unknown.Message);
        Assert.Equal(1, store.SpareWrites);
        await store.EnqueueAsync(new[] { Record("second") });
        Assert.Equal(1, store.SpareWrites);

        // A burst of concurrent writes leaves at most the pool's bound behind.
        await Task.WhenAll(Enumerable.Range(0, 600).Select(i => store.EnqueueAsync(new[] { Record($"burst-{i:D3}") }).AsTask()));
        Assert.InRange(store.SpareWrites, 1, SqliteDeliveryStore.MaxSpareWrites);
        Assert.Equal(602, (await store.ListAsync(new DeliveryQuery(Limit: 1000))).Count);
    }

    [Fact]
    public async Task A_cancelled_wait_gives_up_waiting_but_not_the_write()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Store.EnqueueAsync(new[] { Record("kept") }, cancelled.Token));
        // The write was submitted before the wait was cancelled: the next write is committed after it.
        await Store.EnqueueAsync(new[] { Record("after") });
        Assert.NotNull(await Store.GetAsync("kept"));
    }
}

/// <summary>The admin API: dead letters listed, replayed one by one or all at once, finished deliveries purged.</summary>
public sealed class DeliveryAdminTests
{
    [Fact]
    public async Task Dead_letters_are_replayed_and_finished_deliveries_purged()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2024, 1, 15, 10, 30, 0, TimeSpan.Zero));
        var store = new InMemoryDeliveryStore();
        var admin = new DeliveryAdmin(store, new DeliverySignal(), time);
        DeliveryRecord Record(string id, string ensemble) => new(id, ensemble, "execution.failed", ensemble + "#0", "webhook", "https://a.example.com",
            new byte[] { 1 }, time.GetUtcNow(), time.GetUtcNow(), DeliveryStatus.Pending, 0, 1);
        await store.EnqueueAsync(new[] { Record("a1", "orders"), Record("a2", "orders"), Record("b1", "invoices"), Record("ok", "orders") });
        await store.LeaseDueAsync(time.GetUtcNow(), 10, time.GetUtcNow().AddMinutes(1));
        foreach (var id in new[] { "a1", "a2", "b1" })
        {
            await store.RecordAttemptAsync(new AttemptLog(id, 1, time.GetUtcNow(), TimeSpan.Zero, AttemptOutcome.Permanent, 410, Channels.AttemptErrorKind.HttpStatus, "HTTP 410 Gone", null), DeliveryStatus.DeadLettered);
        }

        await store.RecordAttemptAsync(new AttemptLog("ok", 1, time.GetUtcNow(), TimeSpan.Zero, AttemptOutcome.Delivered, 200, Channels.AttemptErrorKind.None, null, null), DeliveryStatus.Delivered);

        Assert.Equal(3, (await admin.ListAsync(new DeliveryQuery(Status: DeliveryStatus.DeadLettered))).Count);
        await admin.ReplayAsync("b1");
        Assert.Equal(DeliveryStatus.Pending, (await store.GetAsync("b1"))!.Status);
        var again = await Assert.ThrowsAsync<InvalidOperationException>(async () => await admin.ReplayAsync("ok"));
        Assert.Contains("is delivered, not dead-lettered", again.Message);
        Assert.Equal(new[] { "a1", "a2" }, (await admin.ReplayAllAsync(time.GetUtcNow().AddMinutes(-1), "orders")).Order());

        time.Advance(TimeSpan.FromDays(8));
        Assert.Equal(1, await admin.PurgeAsync(TimeSpan.FromDays(7)));
        Assert.Null(await store.GetAsync("ok"));
        Assert.NotNull(await store.GetAsync("a1"));
    }
}

[Collection("postgresql")]
public sealed class PostgreSqlDeliveryStoreTests(Infrastructure.PostgreSqlCluster cluster) : DeliveryStoreContractTests
{
    protected override IDeliveryStore CreateStore() => new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(cluster.CreateDatabase());

    private sealed record PagerNotification(string Ensemble) : Conductor.Sdk.Notifications.NotificationDefinition(Ensemble, 0, new[] { Conductor.Sdk.Events.EventNames.ExecutionCompleted })
    {
        public override string Channel => "pager";
        public override int Retries => 3;
    }

    /// <summary>Fails every attempt with an error text holding a lone surrogate (as a provider's JSON error can: "\ud83d").</summary>
    private sealed class BrokenTextChannel : Conductor.Sdk.Channels.INotificationChannel
    {
        public string Channel => "pager";
        public string EndpointOf(Conductor.Sdk.Notifications.NotificationDefinition notification) => "pager:main";

        public ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new AttemptResult(AttemptOutcome.Retry, 503, AttemptErrorKind.HttpStatus, "HTTP 503: quota \ud83d exceeded"));
    }

    [Fact]
    public async Task An_error_text_that_is_not_valid_unicode_is_stored_with_a_replacement_character()
    {
        // Npgsql refuses to encode a lone surrogate: without the processor's repair the outcome could never be stored, and
        // the delivery would be sent again whenever its lease ran out.
        await using var pipeline = Infrastructure.Pipeline.Create(new[] { new PagerNotification("orders") },
            services: s => s.AddSingleton<Conductor.Sdk.Channels.INotificationChannel>(new BrokenTextChannel()),
            store: () => new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(cluster.CreateDatabase()));

        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();

        var record = await pipeline.RecordAsync(id);
        Assert.Equal((DeliveryStatus.Pending, 1, "HTTP 503: quota \ufffd exceeded"), (record.Status, record.Attempts, record.LastError));
    }

    [Fact]
    public async Task Concurrent_leases_never_hand_out_the_same_delivery_twice()
    {
        await Store.EnqueueAsync(Enumerable.Range(0, 300).Select(i => Record($"p{i:D3}")).ToList());
        var leases = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Store.LeaseDueAsync(T0, 100, T0.AddMinutes(2)).AsTask()));
        var ids = leases.SelectMany(l => l.Select(d => d.Id)).ToList();
        Assert.Equal(300, ids.Count);
        Assert.Equal(300, ids.Distinct().Count());
    }
}
