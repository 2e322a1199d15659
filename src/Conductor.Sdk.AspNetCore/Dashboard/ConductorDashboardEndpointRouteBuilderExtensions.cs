using Conductor.Sdk.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the Conductor delivery dashboard.</summary>
public static class ConductorDashboardEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves the delivery dashboard under <paramref name="pattern"/> (default <c>/conductor</c>): the deliveries of the
    /// configured store with filters and keyset paging, each delivery with its attempts, the dead letters, replay (a POST
    /// checked against CSRF) and summary charts. The page is self-contained (one embedded stylesheet, no script, nothing
    /// from a CDN).
    /// </summary>
    /// <remarks>
    /// It refuses to map without <see cref="ConductorDashboardOptions.AuthorizationPolicy"/>, unless
    /// <see cref="ConductorDashboardOptions.AllowAnonymousInDevelopment"/> is set and the environment is Development.
    /// Replay needs the antiforgery services (<c>builder.Services.AddAntiforgery()</c>). Secrets and signature headers are
    /// never shown (they are not stored); payload fields named in <see cref="ConductorDashboardOptions.RedactedFields"/>
    /// are masked.
    /// </remarks>
    public static RouteGroupBuilder MapConductorDashboard(this IEndpointRouteBuilder endpoints, string pattern = "/conductor", Action<ConductorDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var options = new ConductorDashboardOptions();
        configure?.Invoke(options);
        var invalid = new List<string>();
        if (options.PageSize is < 10 or > 500) invalid.Add($"PageSize must be between 10 and 500 (it is {options.PageSize})");
        if (options.SummaryWindow <= TimeSpan.Zero || options.SummaryWindow > TimeSpan.FromDays(7)) invalid.Add($"SummaryWindow must be more than zero and at most 7 days (it is {options.SummaryWindow})");
        if (options.SummaryAttemptLimit < 1) invalid.Add($"SummaryAttemptLimit must be at least 1 (it is {options.SummaryAttemptLimit})");
        if (invalid.Count > 0) throw new ArgumentException("MapConductorDashboard: " + string.Join("; ", invalid) + ".", nameof(configure));

        var environment = endpoints.ServiceProvider.GetService<IHostEnvironment>();
        if (options.AuthorizationPolicy is null)
        {
            if (!options.AllowAnonymousInDevelopment)
            {
                throw new InvalidOperationException(
                    "MapConductorDashboard needs an authorization policy: the dashboard shows what was sent to whom and can replay it. " +
                    "Set it with MapConductorDashboard(\"/conductor\", o => o.AuthorizationPolicy = \"ops\") (a policy from AddAuthorization), " +
                    "or, on a developer machine only, o.AllowAnonymousInDevelopment = true.");
            }

            if (environment?.IsDevelopment() != true)
            {
                throw new InvalidOperationException(
                    $"MapConductorDashboard: AllowAnonymousInDevelopment is honoured only in the Development environment, and this host runs as '{environment?.EnvironmentName ?? "(no environment)"}'. " +
                    "Set an AuthorizationPolicy for any other environment.");
            }
        }

        if (endpoints.ServiceProvider.GetService<IAntiforgery>() is null)
        {
            throw new InvalidOperationException("MapConductorDashboard: replay is protected against cross-site requests with ASP.NET Core antiforgery; add builder.Services.AddAntiforgery().");
        }

        if (endpoints.ServiceProvider.GetService<Conductor.Sdk.Delivery.IDeliveryStore>() is null)
        {
            throw new InvalidOperationException("MapConductorDashboard shows the deliveries of Conductor's store; call builder.Services.AddConductor() first.");
        }

        var basePath = "/" + pattern.Trim('/');
        var dashboard = new ConductorDashboard(options, basePath);
        var group = endpoints.MapGroup(basePath);
        group.AddEndpointFilter(async (context, next) =>
        {
            ConductorDashboard.Secure(context.HttpContext.Response);
            return await next(context).ConfigureAwait(false);
        });
        group.MapGet("/", (Func<HttpContext, Task<IResult>>)dashboard.ListAsync);
        group.MapGet("/deliveries/{id}", dashboard.DetailAsync);
        group.MapGet("/summary", (Func<HttpContext, Task<IResult>>)dashboard.SummaryAsync);
        group.MapPost("/replay", (Func<HttpContext, Task<IResult>>)dashboard.ReplayAsync).DisableAntiforgery(); // validated in the handler, with a readable refusal
        group.MapGet("/endpoints", (Func<HttpContext, Task<IResult>>)dashboard.EndpointsAsync);
        group.MapPost("/endpoints/enable", (Func<HttpContext, Task<IResult>>)(context => dashboard.ChangeEndpointAsync(context, enable: true))).DisableAntiforgery();
        group.MapPost("/endpoints/disable", (Func<HttpContext, Task<IResult>>)(context => dashboard.ChangeEndpointAsync(context, enable: false))).DisableAntiforgery();
        group.MapGet("/assets/dashboard.css", () => Results.Text(Stylesheet.Value, "text/css; charset=utf-8"));
        if (options.AuthorizationPolicy is { } policy) group.RequireAuthorization(policy);
        else group.AllowAnonymous();
        return group;
    }

    private static readonly Lazy<string> Stylesheet = new(() =>
    {
        using var stream = typeof(ConductorDashboard).Assembly.GetManifestResourceStream("Conductor.Sdk.AspNetCore.Dashboard.dashboard.css")
            ?? throw new InvalidOperationException("The dashboard stylesheet is not embedded in Conductor.Sdk.AspNetCore.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
