namespace Conductor.Sdk.Delivery;

/// <summary>
/// The delivery store cannot accept or read deliveries right now: PostgreSQL down or restarting, a SQLite file locked by
/// another process beyond its busy timeout, a full disk, a read-only file system, a corrupt file. The message names the
/// store, the cause and what to do; it never contains a password. <c>Notify</c> throws it within the store's timeout
/// (5 s by default), and nothing of that call was accepted unless the message says otherwise. Deliveries accepted
/// earlier are kept and sent once the store is back.
/// </summary>
public sealed class DeliveryStoreUnavailableException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public DeliveryStoreUnavailableException(string store, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Store = store;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public DeliveryStoreUnavailableException() : this("unknown", "The delivery store is unavailable.")
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public DeliveryStoreUnavailableException(string message) : this("unknown", message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying error.</summary>
    public DeliveryStoreUnavailableException(string message, Exception innerException) : this("unknown", message, innerException)
    {
    }

    /// <summary>Which store: <c>SQLite /path/file.db</c> or <c>PostgreSQL host:port/database</c>.</summary>
    public string Store { get; }
}
