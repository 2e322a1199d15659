using System.Data.Common;

namespace Conductor.Sdk.Delivery;

/// <summary>
/// The transactional outbox: inside <see cref="Enlist(DbTransaction)"/>, every <c>Notify</c> (and every event of a flow
/// run) stores its deliveries with the application's own <see cref="DbTransaction"/>, so they commit or roll back with
/// the business data. Nothing is sent for a rolled-back transaction, and nothing is lost if the process dies between
/// the commit and the delivery: the worker finds the committed rows as it finds any other.
/// </summary>
/// <remarks>
/// <para>The delivery store must live in the same database: <c>UseSqlite(path)</c> with the application's SQLite file,
/// or <c>UsePostgreSql(connectionString)</c> on the application's database. Other stores refuse to enlist.</para>
/// <para>The scope is ambient, like <c>System.Transactions.TransactionScope</c>: it flows through <c>await</c> into every
/// call made inside it, on this logical call path only.</para>
/// <code>
/// await using var transaction = await connection.BeginTransactionAsync();
/// await SaveOrderAsync(connection, transaction, order);
/// using (ConductorOutbox.Enlist(transaction))
/// {
///     await orders.Notify.ExecutionCompletedAsync(order.Id, output);
/// }
/// await transaction.CommitAsync(); // the delivery is now due; a rollback would have discarded it
/// </code>
/// </remarks>
public static class ConductorOutbox
{
    private static readonly AsyncLocal<DbTransaction?> Ambient = new();

    /// <summary>The transaction deliveries are stored with on this call path, or null (the store's own transaction).</summary>
    public static DbTransaction? Transaction => Ambient.Value;

    /// <summary>
    /// Stores the deliveries of every <c>Notify</c> made before the returned scope is disposed with
    /// <paramref name="transaction"/>. Dispose it before committing (a <c>using</c> block around the <c>Notify</c> calls).
    /// </summary>
    public static IDisposable Enlist(DbTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction.Connection is null)
        {
            throw new InvalidOperationException("The transaction has already been committed or rolled back; enlist Notify in a transaction that is still open.");
        }

        var previous = Ambient.Value;
        Ambient.Value = transaction;
        return new Scope(previous);
    }

    private sealed class Scope(DbTransaction? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            Ambient.Value = previous;
        }
    }
}

/// <summary>A store that can write new deliveries with the application's own transaction (<see cref="ConductorOutbox"/>).</summary>
public interface ITransactionalDeliveryStore : IDeliveryStore
{
    /// <summary>
    /// Inserts <paramref name="deliveries"/> with <paramref name="transaction"/>: they exist for the worker once it
    /// commits, and never if it rolls back. Throws when the transaction is not on the store's database.
    /// </summary>
    ValueTask EnqueueAsync(IReadOnlyList<DeliveryRecord> deliveries, DbTransaction transaction, CancellationToken cancellationToken = default);
}
