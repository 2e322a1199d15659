namespace Conductor.Sdk.AspNetCore;

/// <summary>Settings of the delivery dashboard (<c>MapConductorDashboard</c>).</summary>
public sealed class ConductorDashboardOptions
{
    /// <summary>
    /// The authorization policy every page and action requires (for example one that requires an "ops" role). Required:
    /// the dashboard shows what was sent and to whom, and can replay it.
    /// </summary>
    public string? AuthorizationPolicy { get; set; }

    /// <summary>
    /// Maps the dashboard without authorization. Honoured only when the host environment is Development (a local
    /// machine); anywhere else mapping fails, so that a forgotten flag cannot expose it.
    /// </summary>
    public bool AllowAnonymousInDevelopment { get; set; }

    /// <summary>Whether a delivery's payload is shown on its page (default true; redacted, see <see cref="RedactedFields"/>).</summary>
    public bool ShowPayloads { get; set; } = true;

    /// <summary>
    /// JSON property names whose values are replaced by <c>[redacted]</c> wherever they appear in a shown payload
    /// (case-insensitive).
    /// </summary>
    public ISet<string> RedactedFields { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "password", "secret", "token", "accessToken", "refreshToken", "apiKey", "authorization", "authToken", "creditCard", "ssn",
    };

    /// <summary>Rows per page of the delivery list (10 to 500).</summary>
    public int PageSize { get; set; } = 50;

    /// <summary>How far back the summary charts look.</summary>
    public TimeSpan SummaryWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>At most this many attempts feed the summary charts (the newest deliveries' first).</summary>
    public int SummaryAttemptLimit { get; set; } = 20_000;
}
