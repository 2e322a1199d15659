using Conductor.Sdk.Delivery;
using Microsoft.EntityFrameworkCore.Storage;

namespace Microsoft.EntityFrameworkCore;

/// <summary>The transactional outbox for Entity Framework Core (see <see cref="ConductorOutbox"/>).</summary>
public static class ConductorOutboxDbContextExtensions
{
    /// <summary>
    /// Stores the deliveries of every <c>Notify</c> made before the returned scope is disposed with the context's
    /// current transaction, so that they commit or roll back with what <c>SaveChanges</c> wrote. The delivery store
    /// must be on the same database (<c>UseSqlite</c> on the same file, or <c>UsePostgreSql</c> on the same database).
    /// </summary>
    /// <code>
    /// await using var transaction = await db.Database.BeginTransactionAsync();
    /// db.Orders.Add(order);
    /// await db.SaveChangesAsync();
    /// using (db.EnlistConductorOutbox())
    /// {
    ///     await orders.Notify.ExecutionCompletedAsync(order.Id, output);
    /// }
    /// await transaction.CommitAsync();
    /// </code>
    /// <exception cref="InvalidOperationException">The context has no current transaction.</exception>
    public static IDisposable EnlistConductorOutbox(this DbContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var transaction = context.Database.CurrentTransaction
            ?? throw new InvalidOperationException(
                $"{context.GetType().Name} has no current transaction: begin one (Database.BeginTransactionAsync()) before EnlistConductorOutbox, " +
                "call SaveChanges inside it, and commit it after Notify, so that the notification and the data commit together.");
        return ConductorOutbox.Enlist(transaction.GetDbTransaction());
    }
}
