using System.Text;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Sqlite;
using CsCheck;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #37, part 2: model-based tests of the stores. CsCheck generates random sequences of enqueue, lease, record an
/// outcome, release, replay, purge and clock moves; after every step the store must agree with a small reference model
/// (status, attempts, due time and retry budget of every delivery, what is leasable, the next due time). A failure is
/// shrunk to a minimal sequence and reported with its seed (CsCheck_Seed reruns it).
/// </summary>
public abstract class StoreModelTests
{
    private static readonly DateTimeOffset T0 = new(2026, 2, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    /// <summary>A fresh, empty store of the kind under test.</summary>
    protected abstract StoreHandle Open();

    /// <summary>
    /// A store under test that can be closed and opened again on the same data, and (SQLite, PostgreSQL) rebuilt as the
    /// release before schema versions wrote it, holding the model's rows, then opened, which migrates it.
    /// </summary>
    protected abstract class StoreHandle : IAsyncDisposable
    {
        public IDeliveryStore Store { get; protected set; } = null!;

        /// <summary>Closes the store and opens it again on the same data (the in-memory store has nothing to reopen).</summary>
        public virtual Task ReopenAsync() => Task.CompletedTask;

        /// <summary>An open connection to the store's database, for deliveries enlisted in the application's transaction; null when the store takes no part in one (in-memory).</summary>
        public virtual Task<System.Data.Common.DbConnection?> ConnectAsync() => Task.FromResult<System.Data.Common.DbConnection?>(null);

        /// <summary>False when the store has no released schema to start from (in-memory).</summary>
        public virtual bool HasReleasedSchema => false;

        /// <summary>Writes <paramref name="rows"/> into a new store with the released (version 1) tables and opens it.</summary>
        public virtual Task FromReleasedAsync(IReadOnlyCollection<(DeliveryRecord Record, DateTimeOffset? LeasedUntil)> rows) => throw new NotSupportedException();

        public virtual async ValueTask DisposeAsync()
        {
            if (Store is IAsyncDisposable disposable) await disposable.DisposeAsync();
        }

        /// <summary>Creates the released tables and inserts the rows in the released layout.</summary>
        protected static async Task WriteReleasedAsync(System.Data.Common.DbConnection connection, bool postgreSql, IReadOnlyCollection<(DeliveryRecord Record, DateTimeOffset? LeasedUntil)> rows)
        {
            await using (var create = connection.CreateCommand())
            {
                create.CommandText = Infrastructure.ReleasedSchema.Tables(postgreSql);
                await create.ExecuteNonQueryAsync();
            }

            var table = postgreSql ? "conductor_deliveries" : "deliveries";
            foreach (var (record, leasedUntil) in rows)
            {
                await using var insert = connection.CreateCommand();
                insert.CommandText = $"INSERT INTO {table} VALUES (@id, @ensemble, @event, @key, @channel, @endpoint, @payload, @created, @due, @status, @attempts, @max, NULL, 0, NULL, @leased)";
                void Add(string name, object? value)
                {
                    var parameter = insert.CreateParameter();
                    parameter.ParameterName = name;
                    parameter.Value = value ?? DBNull.Value;
                    insert.Parameters.Add(parameter);
                }

                Add("id", record.Id);
                Add("ensemble", record.Ensemble);
                Add("event", record.Event);
                Add("key", record.NotificationKey);
                Add("channel", record.Channel);
                Add("endpoint", record.Endpoint);
                Add("payload", record.Payload.ToArray());
                Add("created", record.CreatedAt.UtcTicks);
                Add("due", record.DueAt.UtcTicks);
                Add("status", (int)record.Status);
                Add("attempts", record.Attempts);
                Add("max", record.MaxAttempts);
                Add("leased", leasedUntil?.UtcTicks);
                await insert.ExecuteNonQueryAsync();
            }
        }
    }

    /// <summary>Samples per store in the CI run (CONDUCTOR_MODEL_SAMPLES for a long search).</summary>
    protected virtual long Samples => long.TryParse(Environment.GetEnvironmentVariable("CONDUCTOR_MODEL_SAMPLES"), out var n) ? n : DefaultSamples;

    /// <summary>Samples in the CI run: as many as fit in a few seconds for the store.</summary>
    protected abstract long DefaultSamples { get; }

    public abstract record Op;
    public sealed record Enqueue(int Count, int Endpoint, int DueInSeconds) : Op;
    /// <summary>Enqueue inside the application's own transaction (the outbox), then commit it or roll it back.</summary>
    public sealed record EnqueueEnlisted(int Count, int DueInSeconds, bool Commit) : Op;
    public sealed record LeaseDue(int Max) : Op;
    public sealed record RecordOutcome(int Pick, AttemptOutcome Outcome, int RetryInSeconds) : Op;
    public sealed record Release(int Pick, int DueInSeconds) : Op;
    public sealed record Replay(int Pick) : Op;
    public sealed record Purge(int OlderThanSeconds) : Op;
    public sealed record Advance(int Seconds) : Op;
    /// <summary>Close the store and open it again on the same data.</summary>
    public sealed record Reopen : Op;
    /// <summary>Rewrite the store's rows into the released (version 1) tables, then open it: the migration runs mid-sequence.</summary>
    public sealed record UpgradeFromReleased : Op;

    private static readonly Gen<Op> Operation = Gen.Frequency(
        (4, Gen.Select(Gen.Int[1, 3], Gen.Int[0, 2], Gen.Int[-5, 30], (count, endpoint, due) => (Op)new Enqueue(count, endpoint, due))),
        (2, Gen.Select(Gen.Int[1, 3], Gen.Int[-5, 30], Gen.Bool, (count, due, commit) => (Op)new EnqueueEnlisted(count, due, commit))),
        (4, Gen.Int[1, 6].Select(max => (Op)new LeaseDue(max))),
        (4, Gen.Select(Gen.Int[0, 9], Gen.Enum<AttemptOutcome>(), Gen.Int[1, 40], (pick, outcome, retry) => (Op)new RecordOutcome(pick, outcome, retry))),
        (1, Gen.Select(Gen.Int[0, 9], Gen.Int[0, 20], (pick, due) => (Op)new Release(pick, due))),
        (1, Gen.Int[0, 9].Select(pick => (Op)new Replay(pick))),
        (1, Gen.Int[0, 120].Select(age => (Op)new Purge(age))),
        (3, Gen.Int[1, 90].Select(seconds => (Op)new Advance(seconds))),
        (1, Gen.Const((Op)new Reopen())),
        (1, Gen.Const((Op)new UpgradeFromReleased())));

    [Fact]
    public void Random_operation_sequences_leave_the_store_exactly_as_the_model_says() =>
        Operation.Array[1, 40].Sample(ops => RunAsync(ops).GetAwaiter().GetResult(), iter: Samples, threads: 1);

    /// <summary>Edge sequences written by hand: a lease that ends and is taken over, an outbox commit and rollback, a migration with a lease and a dead letter in it, a replay then a purge.</summary>
    [Fact]
    public async Task Known_sequences_still_agree_with_the_model()
    {
        await RunAsync([new Enqueue(1, 0, 0), new LeaseDue(1), new Advance(60), new LeaseDue(1)]);
        await RunAsync([new EnqueueEnlisted(2, 0, Commit: true), new EnqueueEnlisted(1, 0, Commit: false), new LeaseDue(5)]);
        await RunAsync([new Enqueue(3, 0, 0), new LeaseDue(1), new RecordOutcome(0, AttemptOutcome.Permanent, 1), new LeaseDue(1), new UpgradeFromReleased(), new Reopen(), new Replay(0), new Advance(61), new LeaseDue(5)]);
        await RunAsync([new Enqueue(2, 0, 0), new LeaseDue(1), new Advance(61), new LeaseDue(5), new RecordOutcome(0, AttemptOutcome.Retry, 1), new Advance(1), new LeaseDue(5)]);
        await RunAsync([new Enqueue(1, 0, 0), new LeaseDue(1), new RecordOutcome(0, AttemptOutcome.Permanent, 1), new Replay(0), new LeaseDue(1), new RecordOutcome(0, AttemptOutcome.Delivered, 1), new Purge(0), new Advance(1), new Purge(0)]);
    }

    private sealed class Row(DeliveryRecord record)
    {
        public DeliveryRecord Record = record;
        public DateTimeOffset? LeasedUntil;
    }

    private async Task RunAsync(Op[] ops)
    {
        await using var handle = Open();
        {
            var now = T0;
            var model = new Dictionary<string, Row>();
            var next = 0;
            var step = 0;
            foreach (var op in ops)
            {
                var store = handle.Store;
                step++;
                var at = $"step {step} ({op}) of [{string.Join(", ", ops)}]";
                switch (op)
                {
                    case Enqueue e:
                        var batch = Enumerable.Range(0, e.Count).Select(_ => NewRecord($"dlv_model_{next++:D4}", $"https://e{e.Endpoint}.test", now, now.AddSeconds(e.DueInSeconds))).ToArray();
                        await store.EnqueueAsync(batch);
                        foreach (var record in batch) model[record.Id] = new Row(record);
                        break;
                    case EnqueueEnlisted e when store is ITransactionalDeliveryStore transactional:
                        await using (var connection = (await handle.ConnectAsync())!)
                        {
                            var enlisted = Enumerable.Range(0, e.Count).Select(_ => NewRecord($"dlv_model_{next++:D4}", "https://e0.test", now, now.AddSeconds(e.DueInSeconds))).ToArray();
                            await using var transaction = await connection.BeginTransactionAsync();
                            await transactional.EnqueueAsync(enlisted, transaction);
                            // Before the application commits, nothing of it exists for the worker.
                            Assert.True(await store.GetAsync(enlisted[0].Id) is null, $"{at}: an enlisted delivery is visible before its transaction commits");
                            if (e.Commit)
                            {
                                await transaction.CommitAsync();
                                foreach (var record in enlisted) model[record.Id] = new Row(record);
                            }
                            else
                            {
                                await transaction.RollbackAsync();
                            }
                        }

                        break;
                    case LeaseDue l:
                        var leasable = model.Values.Where(r => Leasable(r, now)).ToList();
                        var leased = await store.LeaseDueAsync(now, l.Max, now + Lease);
                        Assert.True(leased.Count == Math.Min(l.Max, leasable.Count), $"{at}: leased {leased.Count}, the model has {leasable.Count} leasable");
                        foreach (var record in leased)
                        {
                            Assert.True(model.TryGetValue(record.Id, out var row) && Leasable(row, now), $"{at}: leased {record.Id}, which is not leasable");
                            row!.LeasedUntil = now + Lease;
                        }

                        // The earliest due go first: nothing left behind is due before something taken.
                        if (leased.Count > 0)
                        {
                            var latestTaken = leased.Max(r => model[r.Id].Record.DueAt);
                            Assert.True(leasable.Where(r => r.LeasedUntil is null || r.LeasedUntil <= now).All(r => r.Record.DueAt >= latestTaken || leased.Any(x => x.Id == r.Record.Id)),
                                $"{at}: a delivery due before {latestTaken:O} was left behind");
                        }

                        break;
                    case RecordOutcome r when Pick(model.Values.Where(x => x.LeasedUntil > now), r.Pick) is { } row:
                        var number = row.Record.Attempts + 1;
                        var retry = r.Outcome == AttemptOutcome.Retry && number < row.Record.MaxAttempts;
                        var status = r.Outcome == AttemptOutcome.Delivered ? DeliveryStatus.Delivered : retry ? DeliveryStatus.Pending : DeliveryStatus.DeadLettered;
                        var nextDue = retry ? now.AddSeconds(r.RetryInSeconds) : (DateTimeOffset?)null;
                        await store.RecordAttemptAsync(new AttemptLog(row.Record.Id, number, now, TimeSpan.Zero, r.Outcome, r.Outcome == AttemptOutcome.Delivered ? 200 : 503,
                            r.Outcome == AttemptOutcome.Delivered ? AttemptErrorKind.None : AttemptErrorKind.HttpStatus, r.Outcome == AttemptOutcome.Delivered ? null : "HTTP 503", nextDue), status);
                        row.Record = row.Record with { Attempts = number, Status = status, DueAt = nextDue ?? row.Record.DueAt };
                        row.LeasedUntil = null;
                        break;
                    case Release rel when Pick(model.Values.Where(x => x.LeasedUntil > now), rel.Pick) is { } row:
                        await store.ReleaseAsync(row.Record.Id, now.AddSeconds(rel.DueInSeconds));
                        row.Record = row.Record with { DueAt = now.AddSeconds(rel.DueInSeconds) };
                        row.LeasedUntil = null;
                        break;
                    case Replay rep:
                        var dead = Pick(model.Values.Where(x => x.Record.Status == DeliveryStatus.DeadLettered), rep.Pick);
                        var target = dead?.Record.Id ?? model.Keys.Order(StringComparer.Ordinal).FirstOrDefault();
                        if (target is null) break;
                        var replayed = await store.ReplayAsync(target, now);
                        Assert.True(replayed == (dead is not null), $"{at}: replay of {target} returned {replayed}");
                        if (dead is not null) dead.Record = dead.Record with { Status = DeliveryStatus.Pending, DueAt = now, MaxAttempts = dead.Record.Attempts + dead.Record.MaxAttempts };
                        break;
                    case Purge p:
                        var before = now.AddSeconds(-p.OlderThanSeconds);
                        var gone = model.Values.Where(x => x.Record.Status != DeliveryStatus.Pending && x.Record.CreatedAt < before).Select(x => x.Record.Id).ToList();
                        var purged = await store.PurgeAsync(before);
                        Assert.True(purged == gone.Count, $"{at}: purged {purged}, the model {gone.Count}");
                        foreach (var id in gone) model.Remove(id);
                        break;
                    case Advance a:
                        now = now.AddSeconds(a.Seconds);
                        break;
                    case Reopen:
                        await handle.ReopenAsync();
                        break;
                    case UpgradeFromReleased when handle.HasReleasedSchema:
                        await handle.FromReleasedAsync(model.Values.Select(r => (r.Record, r.LeasedUntil)).ToList());
                        break;
                }

                await CheckAsync(handle.Store, model, now, at);
            }
        }
    }

    private static bool Leasable(Row row, DateTimeOffset now) =>
        row.Record.Status == DeliveryStatus.Pending && row.Record.DueAt <= now && (row.LeasedUntil is null || row.LeasedUntil <= now);

    private static Row? Pick(IEnumerable<Row> rows, int pick)
    {
        var list = rows.OrderBy(r => r.Record.Id, StringComparer.Ordinal).ToList();
        return list.Count == 0 ? null : list[pick % list.Count];
    }

    private static DeliveryRecord NewRecord(string id, string endpoint, DateTimeOffset created, DateTimeOffset due) =>
        new(id, "model", "execution.completed", "model#0", "webhook", endpoint, Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\"}}"), created, due, DeliveryStatus.Pending, 0, 3);

    private static async Task CheckAsync(IDeliveryStore store, Dictionary<string, Row> model, DateTimeOffset now, string at)
    {
        foreach (var row in model.Values)
        {
            var stored = await store.GetAsync(row.Record.Id);
            Assert.True(stored is not null, $"{at}: {row.Record.Id} is missing from the store");
            var expected = (row.Record.Status, row.Record.Attempts, row.Record.MaxAttempts);
            Assert.True((stored!.Status, stored.Attempts, stored.MaxAttempts) == expected, $"{at}: {row.Record.Id} is {(stored.Status, stored.Attempts, stored.MaxAttempts)}, the model {expected}");
            if (row.Record.Status == DeliveryStatus.Pending)
            {
                Assert.True(stored.DueAt == row.Record.DueAt, $"{at}: {row.Record.Id} is due {stored.DueAt:O}, the model {row.Record.DueAt:O}");
            }
        }

        var all = await store.ListAsync(new DeliveryQuery(Limit: 10_000));
        Assert.True(all.Count == model.Count, $"{at}: the store lists {all.Count} deliveries, the model has {model.Count}");

        // The next time something becomes leasable: a pending delivery's due time, or, while it is leased, its lease's
        // end. Once that time has passed, only "now" matters (the worker looks at once): stores may name the due time or
        // the ended lease's end.
        var times = model.Values.Where(r => r.Record.Status == DeliveryStatus.Pending)
            .Select(r => r.LeasedUntil is { } until && until > now ? until : r.Record.DueAt).ToList();
        DateTimeOffset? nextDue = times.Count == 0 ? null : times.Min();
        var storeNext = await store.NextDueAsync();
        var agrees = nextDue is { } due && due <= now ? storeNext is { } s && s <= now : storeNext == nextDue;
        Assert.True(agrees, $"{at}: the store's next due time is {storeNext:O}, the model's {nextDue:O} (now {now:O})");
    }
}

public sealed class InMemoryStoreModelTests : StoreModelTests
{
    protected override long DefaultSamples => 3000;

    protected override StoreHandle Open() => new Handle();

    private sealed class Handle : StoreHandle
    {
        public Handle() => Store = new InMemoryDeliveryStore();
    }
}

public sealed class SqliteStoreModelTests : StoreModelTests, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("conductor-model-").FullName;
    private int _next;

    protected override long DefaultSamples => 500;

    protected override StoreHandle Open() => new Handle(this);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private string NewPath() => Path.Combine(_directory, $"model-{Interlocked.Increment(ref _next)}.db");

    private sealed class Handle : StoreHandle
    {
        private readonly SqliteStoreModelTests _owner;
        private string _path;

        public Handle(SqliteStoreModelTests owner)
        {
            _owner = owner;
            _path = owner.NewPath();
            Store = new SqliteDeliveryStore(_path);
        }

        public override bool HasReleasedSchema => true;

        public override async Task<System.Data.Common.DbConnection?> ConnectAsync()
        {
            var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_path};Pooling=False");
            await connection.OpenAsync();
            return connection;
        }

        public override async Task ReopenAsync()
        {
            await ((IAsyncDisposable)Store).DisposeAsync();
            Store = new SqliteDeliveryStore(_path);
        }

        public override async Task FromReleasedAsync(IReadOnlyCollection<(DeliveryRecord Record, DateTimeOffset? LeasedUntil)> rows)
        {
            await ((IAsyncDisposable)Store).DisposeAsync();
            _path = _owner.NewPath();
            await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_path};Pooling=False"))
            {
                await connection.OpenAsync();
                await WriteReleasedAsync(connection, postgreSql: false, rows);
            }

            Store = new SqliteDeliveryStore(_path);
        }
    }
}

[Collection("postgresql")]
public sealed class PostgreSqlStoreModelTests(Infrastructure.PostgreSqlCluster cluster) : StoreModelTests
{
    // A database per sample (about 0.9 s each): fewer samples in CI than the embedded stores.
    protected override long DefaultSamples => 40;

    protected override StoreHandle Open() => new Handle(cluster);

    private sealed class Handle : StoreHandle
    {
        private readonly Infrastructure.PostgreSqlCluster _cluster;
        private string _connection;

        public Handle(Infrastructure.PostgreSqlCluster cluster)
        {
            _cluster = cluster;
            _connection = cluster.CreateDatabase();
            Store = new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(_connection);
        }

        public override bool HasReleasedSchema => true;

        public override async ValueTask DisposeAsync()
        {
            await base.DisposeAsync();
            // A database (and so a connection pool) per sample: a long search would otherwise run out of connections.
            Npgsql.NpgsqlConnection.ClearAllPools();
        }

        public override async Task<System.Data.Common.DbConnection?> ConnectAsync()
        {
            var connection = new Npgsql.NpgsqlConnection(_connection);
            await connection.OpenAsync();
            return connection;
        }

        public override async Task ReopenAsync()
        {
            await ((IAsyncDisposable)Store).DisposeAsync();
            Store = new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(_connection);
        }

        public override async Task FromReleasedAsync(IReadOnlyCollection<(DeliveryRecord Record, DateTimeOffset? LeasedUntil)> rows)
        {
            await ((IAsyncDisposable)Store).DisposeAsync();
            _connection = _cluster.CreateDatabase();
            await using (var connection = new Npgsql.NpgsqlConnection(_connection))
            {
                await connection.OpenAsync();
                await WriteReleasedAsync(connection, postgreSql: true, rows);
            }

            Store = new Conductor.Sdk.PostgreSql.PostgreSqlDeliveryStore(_connection);
        }
    }
}
