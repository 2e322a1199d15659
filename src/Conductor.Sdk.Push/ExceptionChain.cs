namespace Conductor.Sdk.Push;

/// <summary>Looks through an exception's inner exceptions (HTTP failures wrap the SSRF refusal).</summary>
internal static class ExceptionChain
{
    /// <summary>The first exception of type <typeparamref name="T"/> in the chain, or null.</summary>
    public static T? Find<T>(Exception exception) where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T match) return match;
        }

        return null;
    }
}
