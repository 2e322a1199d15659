using Conductor.Sdk.AspNetCore;
using Microsoft.AspNetCore.Http;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Endpoint-filter registration.</summary>
public static class ConductorWebhookEndpointExtensions
{
    /// <summary>
    /// Verifies the signature of every request to the endpoint against its raw body; refuses it with 401 and a
    /// problem response naming the reason (missing header, stale timestamp, bad signature) otherwise.
    /// </summary>
    public static TBuilder RequireConductorSignature<TBuilder>(this TBuilder builder, Action<ConductorWebhookVerificationOptions> configure)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new ConductorWebhookVerificationOptions();
        configure(options);
        if (options.Secrets.Count == 0 || options.Secrets.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("RequireConductorSignature needs at least one non-empty secret (configure options.Secrets).", nameof(configure));
        }

        if (options.Tolerance <= TimeSpan.Zero) throw new ArgumentException("RequireConductorSignature: Tolerance must be positive.", nameof(configure));
        var filter = new ConductorSignatureFilter(options);
        builder.AddEndpointFilter(filter.InvokeAsync);
        return builder;
    }
}
