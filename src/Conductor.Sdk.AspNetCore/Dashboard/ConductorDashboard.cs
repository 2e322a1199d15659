using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Conductor.Sdk.Delivery;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Conductor.Sdk.AspNetCore;

/// <summary>The dashboard's pages: server-rendered HTML over the configured store, with one embedded stylesheet.</summary>
internal sealed class ConductorDashboard(ConductorDashboardOptions options, string basePath)
{
    private static readonly string[] Events = ["execution.started", "execution.completed", "execution.failed", "execution.timeout", "agent.completed", "state.updated"];
    private static readonly string[] Channels = ["webhook", "email", "sms", "push"];
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    /// <summary>Security headers on every response: no framing, no caching, nothing loaded from elsewhere.</summary>
    public static void Secure(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
    }

    public async Task<IResult> ListAsync(HttpContext context)
    {
        var request = context.Request.Query;
        var store = context.RequestServices.GetRequiredService<IDeliveryStore>();
        var query = new DeliveryQuery(
            Ensemble: Text(request["ensemble"]),
            Event: Text(request["event"]) is { } e && Events.Contains(e) ? e : null,
            Status: Enum.TryParse<DeliveryStatus>(request["status"], ignoreCase: true, out var status) ? status : null,
            Since: Time(request["from"]),
            Limit: options.PageSize + 1,
            Channel: Text(request["channel"]) is { } c && Channels.Contains(c) ? c : null,
            Until: Time(request["to"]),
            Search: Text(request["q"]),
            Before: DeliveryCursor.TryParse(request["before"], out var cursor) ? cursor : null);
        var rows = await store.ListAsync(query, context.RequestAborted).ConfigureAwait(false);
        var more = rows.Count > query.Limit - 1;
        var page = more ? rows.Take(query.Limit - 1).ToList() : rows.ToList();

        var html = Page(query.Status == DeliveryStatus.DeadLettered ? "Dead letters" : "Deliveries", query.Status == DeliveryStatus.DeadLettered ? "dead" : "list");
        Notice(html, context);
        Filters(html, request);
        var tokens = Antiforgery(context);
        html.Append("<form method=\"post\" action=\"").Append(Html.Encode(basePath + "/replay")).Append("\">")
            .Append(tokens)
            .Append("<input type=\"hidden\" name=\"returnUrl\" value=\"").Append(Html.Encode(basePath + "/" + context.Request.QueryString)).Append("\">")
            .Append("<table id=\"deliveries\"><thead><tr><th></th><th>Created (UTC)</th><th>Delivery</th><th>Ensemble</th><th>Event</th><th>Channel</th><th>Endpoint</th><th>Status</th><th>Attempts</th><th>Last result</th></tr></thead><tbody>");
        foreach (var d in page)
        {
            html.Append("<tr>")
                .Append("<td>").Append(d.Status == DeliveryStatus.DeadLettered ? $"<input type=\"checkbox\" name=\"id\" value=\"{Html.Encode(d.Id)}\" aria-label=\"select {Html.Encode(d.Id)}\">" : string.Empty).Append("</td>")
                .Append("<td>").Append(d.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture)).Append("</td>")
                .Append("<td><a class=\"delivery\" href=\"").Append(Html.Encode(basePath + "/deliveries/" + Uri.EscapeDataString(d.Id))).Append("\">").Append(Html.Encode(d.Id)).Append("</a></td>")
                .Append("<td>").Append(Html.Encode(d.Ensemble)).Append("</td>")
                .Append("<td>").Append(Html.Encode(d.Event)).Append("</td>")
                .Append("<td>").Append(Html.Encode(d.Channel)).Append("</td>")
                .Append("<td>").Append(Html.Encode(d.Endpoint)).Append("</td>")
                .Append("<td>").Append(Badge(d.Status)).Append("</td>")
                .Append("<td class=\"num\">").Append(d.Attempts).Append('/').Append(d.MaxAttempts).Append("</td>")
                .Append("<td>").Append(Html.Encode(LastResult(d))).Append("</td>")
                .Append("</tr>");
        }

        if (page.Count == 0) html.Append("<tr><td colspan=\"10\" class=\"empty\">No deliveries match.</td></tr>");
        html.Append("</tbody></table>");
        if (page.Any(d => d.Status == DeliveryStatus.DeadLettered)) html.Append("<p><button type=\"submit\" id=\"replay-selected\">Replay selected</button></p>");
        html.Append("</form><nav class=\"pager\">");
        if (query.Before is not null) html.Append("<a id=\"newest\" href=\"").Append(Html.Encode(Link(request, before: null))).Append("\">« Newest</a> ");
        if (more) html.Append("<a id=\"older\" href=\"").Append(Html.Encode(Link(request, DeliveryCursor.After(page[^1]).ToString()))).Append("\">Older »</a>");
        html.Append("</nav>");
        return Done(html);
    }

    public async Task<IResult> DetailAsync(HttpContext context, string id)
    {
        var store = context.RequestServices.GetRequiredService<IDeliveryStore>();
        var delivery = await store.GetAsync(id, context.RequestAborted).ConfigureAwait(false);
        if (delivery is null)
        {
            var missing = Page("Not found", "list").Append("<p>No delivery <code>").Append(Html.Encode(id)).Append("</code> is stored (it may have been purged).</p>");
            return Done(missing, StatusCodes.Status404NotFound);
        }

        var attempts = await store.AttemptsAsync(id, context.RequestAborted).ConfigureAwait(false);
        var html = Page("Delivery " + delivery.Id, "list");
        Notice(html, context);
        html.Append("<dl class=\"fields\">");
        Field(html, "Id", delivery.Id);
        Field(html, "Ensemble", delivery.Ensemble);
        Field(html, "Event", delivery.Event);
        Field(html, "Notification", delivery.NotificationKey);
        Field(html, "Channel", delivery.Channel);
        Field(html, "Endpoint", delivery.Endpoint);
        html.Append("<dt>Status</dt><dd id=\"status\">").Append(Badge(delivery.Status)).Append("</dd>");
        Field(html, "Attempts", $"{delivery.Attempts} of {delivery.MaxAttempts}");
        Field(html, "Created (UTC)", delivery.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        if (delivery.Status == DeliveryStatus.Pending)
        {
            Field(html, "Due (UTC)", delivery.DueAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        }
        else
        {
            if (delivery.FinishedAt is { } finished) Field(html, "Finished (UTC)", finished.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            // Retention (Conductor:Retention) removes it then; a dead letter can be replayed until that time.
            var retention = context.RequestServices.GetService<Microsoft.Extensions.Options.IOptions<ConductorOptions>>()?.Value.Retention;
            var expires = retention?.ExpiresAt(delivery);
            html.Append("<dt>Expires (UTC)</dt><dd id=\"expires\">")
                .Append(Html.Encode(expires is { } at ? at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) + " (removed by retention)" : "never (retention is Infinite)"))
                .Append("</dd>");
        }

        if (delivery.TraceParent is { } trace) Field(html, "Trace", trace);
        html.Append("</dl>");
        if (delivery.Status == DeliveryStatus.DeadLettered)
        {
            html.Append("<form method=\"post\" action=\"").Append(Html.Encode(basePath + "/replay")).Append("\">").Append(Antiforgery(context))
                .Append("<input type=\"hidden\" name=\"id\" value=\"").Append(Html.Encode(delivery.Id)).Append("\">")
                .Append("<input type=\"hidden\" name=\"returnUrl\" value=\"").Append(Html.Encode(basePath + "/deliveries/" + Uri.EscapeDataString(delivery.Id))).Append("\">")
                .Append("<button type=\"submit\" id=\"replay\">Replay this delivery</button></form>");
        }

        html.Append("<h2>Attempts</h2><table id=\"attempts\"><thead><tr><th>#</th><th>Started (UTC)</th><th>Status code</th><th>Latency</th><th>Outcome</th><th>Error kind</th><th>Error or response excerpt</th><th>Next attempt</th></tr></thead><tbody>");
        foreach (var a in attempts)
        {
            html.Append("<tr><td class=\"num\">").Append(a.Number).Append("</td><td>").Append(a.StartedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture))
                .Append("</td><td class=\"num\">").Append(a.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "-")
                .Append("</td><td class=\"num\">").Append(a.Duration.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)).Append(" ms")
                .Append("</td><td>").Append(Html.Encode(a.Outcome.ToString()))
                .Append("</td><td>").Append(Html.Encode(a.ErrorKind.ToString()))
                .Append("</td><td class=\"excerpt\">").Append(Html.Encode(a.Error ?? string.Empty))
                .Append("</td><td>").Append(a.NextDueAt?.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture) ?? "-").Append("</td></tr>");
        }

        if (attempts.Count == 0) html.Append("<tr><td colspan=\"8\" class=\"empty\">Not attempted yet.</td></tr>");
        html.Append("</tbody></table><h2>Payload</h2>");
        html.Append(options.ShowPayloads
            ? "<pre id=\"payload\">" + Html.Encode(Redact(delivery.Payload)) + "</pre>"
            : "<p>Payloads are hidden by configuration (ShowPayloads = false).</p>");
        return Done(html);
    }

    public async Task<IResult> SummaryAsync(HttpContext context)
    {
        var store = context.RequestServices.GetRequiredService<IDeliveryStore>();
        var time = context.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
        var now = time.GetUtcNow();
        var since = now - options.SummaryWindow;
        var samples = await store.RecentAttemptsAsync(since, options.SummaryAttemptLimit, context.RequestAborted).ConfigureAwait(false);
        var html = Page("Summary", "summary");
        html.Append("<p>Attempts made in the last ").Append(options.SummaryWindow.TotalMinutes.ToString("0", CultureInfo.InvariantCulture))
            .Append(" minutes, retries of older deliveries included (").Append(samples.Count.ToString("N0", CultureInfo.InvariantCulture)).Append(" attempts).</p>");
        html.Append("<h2>Attempts per minute by outcome</h2>");
        html.Append(Chart(samples, since, now));
        html.Append("<h2>Latency per endpoint</h2><table id=\"latency\"><thead><tr><th>Endpoint</th><th>Attempts</th><th>Delivered</th><th>p50</th><th>p95</th><th>p99</th></tr></thead><tbody>");
        foreach (var group in samples.GroupBy(s => s.Endpoint, StringComparer.Ordinal).OrderByDescending(g => g.Count()))
        {
            var sorted = group.Select(s => s.Duration.TotalMilliseconds).Order().ToArray();
            html.Append("<tr><td>").Append(Html.Encode(group.Key)).Append("</td><td class=\"num\">").Append(sorted.Length)
                .Append("</td><td class=\"num\">").Append(group.Count(s => s.Outcome == AttemptOutcome.Delivered))
                .Append("</td><td class=\"num\">").Append(Ms(sorted, 0.50)).Append("</td><td class=\"num\">").Append(Ms(sorted, 0.95)).Append("</td><td class=\"num\">").Append(Ms(sorted, 0.99)).Append("</td></tr>");
        }

        if (samples.Count == 0) html.Append("<tr><td colspan=\"6\" class=\"empty\">No attempts in this window.</td></tr>");
        html.Append("</tbody></table>");
        return Done(html);
    }

    /// <summary>
    /// Every endpoint: its shared state (healthy, failing since, disabled and why), its due backlog and the age of the
    /// oldest due delivery, its success rate and p99 latency over the summary window, its last error, and a button to
    /// disable or enable it (an antiforgery-checked POST).
    /// </summary>
    public async Task<IResult> EndpointsAsync(HttpContext context)
    {
        var admin = context.RequestServices.GetRequiredService<IEndpointAdmin>();
        var store = context.RequestServices.GetRequiredService<IDeliveryStore>();
        var time = context.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
        var endpoints = await admin.ListAsync(context.RequestAborted).ConfigureAwait(false);
        var samples = (await store.RecentAttemptsAsync(time.GetUtcNow() - options.SummaryWindow, options.SummaryAttemptLimit, context.RequestAborted).ConfigureAwait(false))
            .GroupBy(a => a.Endpoint, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var html = Page("Endpoints", "endpoints");
        Notice(html, context);
        html.Append("<p>States are shared by every process using this store. A disabled endpoint's deliveries are kept and not attempted; enabling it sends them in due order. Success rate and p99 cover the last ")
            .Append(options.SummaryWindow.TotalMinutes.ToString("0", CultureInfo.InvariantCulture)).Append(" minutes.</p>");
        html.Append("<table id=\"endpoints\"><thead><tr><th>Endpoint</th><th>State</th><th>Since (UTC)</th><th>Due</th><th>Oldest due</th><th>Success</th><th>p99</th><th>Last error or reason</th><th></th></tr></thead><tbody>");
        var tokens = Antiforgery(context);
        foreach (var e in endpoints)
        {
            var attempts = samples.GetValueOrDefault(e.Endpoint);
            var since = e.Health == EndpointHealth.Disabled ? e.State.DisabledAt : e.State.FailingSince;
            var detail = e.Health == EndpointHealth.Disabled ? e.State.DisabledReason : e.State.LastError;
            var sorted = attempts?.Select(a => a.Duration.TotalMilliseconds).Order().ToArray() ?? [];
            html.Append("<tr data-endpoint=\"").Append(Html.Encode(e.Endpoint)).Append("\"><td>").Append(Html.Encode(e.Endpoint)).Append("</td><td class=\"state\">").Append(StateBadge(e.Health))
                .Append("</td><td>").Append(since?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-")
                .Append("</td><td class=\"num due\">").Append(e.Due.ToString("N0", CultureInfo.InvariantCulture))
                .Append("</td><td class=\"num\">").Append(e.OldestDue is null ? "-" : Age(e.OldestDueAge))
                .Append("</td><td class=\"num\">").Append(attempts is null ? "-" : (100.0 * attempts.Count(a => a.Outcome == AttemptOutcome.Delivered) / attempts.Count).ToString("0.#", CultureInfo.InvariantCulture) + " %")
                .Append("</td><td class=\"num\">").Append(Ms(sorted, 0.99))
                .Append("</td><td class=\"excerpt\">").Append(Html.Encode(detail ?? string.Empty))
                .Append("</td><td><form method=\"post\" action=\"").Append(Html.Encode(basePath + (e.Health == EndpointHealth.Disabled ? "/endpoints/enable" : "/endpoints/disable"))).Append("\">")
                .Append(tokens).Append("<input type=\"hidden\" name=\"endpoint\" value=\"").Append(Html.Encode(e.Endpoint)).Append("\">")
                .Append(e.Health == EndpointHealth.Disabled ? "<button type=\"submit\" class=\"enable\">Enable</button>" : "<button type=\"submit\" class=\"disable\">Disable</button>")
                .Append("</form></td></tr>");
        }

        if (endpoints.Count == 0) html.Append("<tr><td colspan=\"9\" class=\"empty\">No endpoint has deliveries or a recorded state yet.</td></tr>");
        html.Append("</tbody></table>");
        return Done(html);
    }

    /// <summary>POST /endpoints/enable or /endpoints/disable: checks the antiforgery token, changes the state, returns to the page.</summary>
    public async Task<IResult> ChangeEndpointAsync(HttpContext context, bool enable)
    {
        if (await RefusedAsync(context, enable ? "enable" : "disable").ConfigureAwait(false) is { } refused) return refused;
        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var endpoint = form["endpoint"].ToString();
        var admin = context.RequestServices.GetRequiredService<IEndpointAdmin>();
        if (string.IsNullOrWhiteSpace(endpoint) || !(await admin.ListAsync(context.RequestAborted).ConfigureAwait(false)).Any(e => e.Endpoint == endpoint))
        {
            return Done(Page("Refused", "endpoints").Append("<p>No such endpoint.</p>"), StatusCodes.Status400BadRequest);
        }

        var user = context.User.Identity?.Name;
        var changed = enable
            ? await admin.EnableAsync(endpoint, context.RequestAborted).ConfigureAwait(false)
            : await admin.DisableAsync(endpoint, "disabled from the dashboard" + (string.IsNullOrEmpty(user) ? string.Empty : " by " + user), context.RequestAborted).ConfigureAwait(false);
        var message = changed
            ? (enable ? $"Enabled {endpoint}; its due deliveries are sent in order." : $"Disabled {endpoint}; its deliveries are kept until it is enabled.")
            : $"{endpoint} was already {(enable ? "enabled" : "disabled")}.";
        return Results.Redirect(basePath + "/endpoints?replayed=" + Uri.EscapeDataString(message));
    }

    private static string StateBadge(EndpointHealth health) => health switch
    {
        EndpointHealth.Healthy => "<span class=\"badge ok\">healthy</span>",
        EndpointHealth.Failing => "<span class=\"badge retry\">failing</span>",
        _ => "<span class=\"badge dead\">disabled</span>",
    };

    private static string Age(TimeSpan age) =>
        age.TotalDays >= 1 ? $"{age.TotalDays:0.#} d" : age.TotalHours >= 1 ? $"{age.TotalHours:0.#} h" : age.TotalMinutes >= 1 ? $"{age.TotalMinutes:0} min" : $"{age.TotalSeconds:0} s";

    /// <summary>A refusal page when the form's antiforgery token is missing or invalid; null when it is valid.</summary>
    private async Task<IResult?> RefusedAsync(HttpContext context, string what)
    {
        try
        {
            await context.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(context).ConfigureAwait(false);
            return null;
        }
        catch (AntiforgeryValidationException)
        {
            return Done(Page("Refused", "list").Append("<p>The ").Append(what).Append(" was refused: the form's anti-forgery token is missing or invalid. Reload the page and try again.</p>"), StatusCodes.Status400BadRequest);
        }
    }

    public async Task<IResult> ReplayAsync(HttpContext context)
    {
        if (await RefusedAsync(context, "replay").ConfigureAwait(false) is { } refused) return refused;

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var admin = context.RequestServices.GetRequiredService<IDeliveryAdmin>();
        int done = 0;
        var problems = new List<string>();
        foreach (var id in form["id"].Where(v => !string.IsNullOrEmpty(v)).Distinct().Take(1000))
        {
            try
            {
                await admin.ReplayAsync(id!, context.RequestAborted).ConfigureAwait(false);
                done++;
            }
            catch (InvalidOperationException ex)
            {
                problems.Add(ex.Message);
            }
        }

        // Back to where the form was, and only to a page of this dashboard.
        var back = form["returnUrl"].ToString();
        if (!back.StartsWith(basePath + "/", StringComparison.Ordinal) || back.StartsWith("//", StringComparison.Ordinal) || back.Contains('\\', StringComparison.Ordinal)) back = basePath + "/";
        var message = $"Replayed {done} {(done == 1 ? "delivery" : "deliveries")}" + (problems.Count == 0 ? "." : ". Not replayed: " + string.Join(" ", problems));
        var separator = back.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        return Results.Redirect(back + separator + "replayed=" + Uri.EscapeDataString(message));
    }

    /// <summary>The outcome of a replay, shown once on the page the replay returned to.</summary>
    private static void Notice(StringBuilder html, HttpContext context)
    {
        if (context.Request.Query["replayed"] is { Count: > 0 } replayed) html.Append("<p class=\"notice\" id=\"notice\">").Append(Html.Encode(replayed.ToString())).Append("</p>");
    }

    private string Antiforgery(HttpContext context)
    {
        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        return $"<input type=\"hidden\" name=\"{Html.Encode(tokens.FormFieldName)}\" value=\"{Html.Encode(tokens.RequestToken!)}\">";
    }

    /// <summary>The payload as indented JSON, with the values of <see cref="ConductorDashboardOptions.RedactedFields"/> replaced.</summary>
    internal string Redact(ReadOnlyMemory<byte> payload)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(payload.Span);
        }
        catch (JsonException)
        {
            return $"({payload.Length} bytes, not JSON: not shown)";
        }

        Walk(node);
        return node?.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) ?? "null";

        void Walk(JsonNode? current)
        {
            switch (current)
            {
                case JsonObject obj:
                    foreach (var name in obj.Select(p => p.Key).ToList())
                    {
                        if (options.RedactedFields.Contains(name)) obj[name] = "[redacted]";
                        else Walk(obj[name]);
                    }

                    break;
                case JsonArray array:
                    foreach (var item in array) Walk(item);
                    break;
            }
        }
    }

    private StringBuilder Page(string title, string active)
    {
        var html = new StringBuilder(16 * 1024);
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>")
            .Append(Html.Encode(title)).Append(" · Conductor</title><link rel=\"stylesheet\" href=\"").Append(Html.Encode(basePath + "/assets/dashboard.css")).Append("\"></head><body>")
            .Append("<header><strong>Conductor</strong><nav>");
        foreach (var (key, label, href) in new[] { ("list", "Deliveries", "/"), ("dead", "Dead letters", "/?status=deadlettered"), ("endpoints", "Endpoints", "/endpoints"), ("summary", "Summary", "/summary") })
        {
            html.Append("<a").Append(key == active ? " class=\"active\"" : string.Empty).Append(" id=\"nav-").Append(key).Append("\" href=\"").Append(Html.Encode(basePath + href)).Append("\">").Append(label).Append("</a>");
        }

        return html.Append("</nav></header><main><h1>").Append(Html.Encode(title)).Append("</h1>");
    }

    private static IResult Done(StringBuilder html, int status = StatusCodes.Status200OK) =>
        Results.Content(html.Append("</main></body></html>").ToString(), "text/html; charset=utf-8", Encoding.UTF8, status);

    private void Filters(StringBuilder html, IQueryCollection request)
    {
        html.Append("<form method=\"get\" class=\"filters\" id=\"filters\" action=\"").Append(Html.Encode(basePath + "/")).Append("\">");
        Input(html, "ensemble", "Ensemble", request["ensemble"]);
        Select(html, "event", "Event", Events, request["event"]);
        Select(html, "channel", "Channel", Channels, request["channel"]);
        Select(html, "status", "Status", ["pending", "delivered", "deadlettered"], request["status"]);
        Input(html, "from", "From (UTC)", request["from"], "datetime-local");
        Input(html, "to", "To (UTC)", request["to"], "datetime-local");
        Input(html, "q", "Id or endpoint", request["q"]);
        html.Append("<button type=\"submit\" id=\"apply\">Filter</button></form>");
    }

    private static void Input(StringBuilder html, string name, string label, string? value, string type = "text") =>
        html.Append("<label>").Append(label).Append(" <input type=\"").Append(type).Append("\" name=\"").Append(name).Append("\" id=\"f-").Append(name).Append("\" value=\"").Append(Html.Encode(value ?? string.Empty)).Append("\"></label>");

    private static void Select(StringBuilder html, string name, string label, IEnumerable<string> values, string? current)
    {
        html.Append("<label>").Append(label).Append(" <select name=\"").Append(name).Append("\" id=\"f-").Append(name).Append("\"><option value=\"\">any</option>");
        foreach (var value in values)
        {
            html.Append("<option").Append(string.Equals(value, current, StringComparison.OrdinalIgnoreCase) ? " selected" : string.Empty).Append('>').Append(Html.Encode(value)).Append("</option>");
        }

        html.Append("</select></label>");
    }

    private string Link(IQueryCollection request, string? before)
    {
        var parts = request.Where(p => p.Key is not "before" and not "replayed").Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value.ToString())).ToList();
        if (before is not null) parts.Add("before=" + Uri.EscapeDataString(before));
        return basePath + "/" + (parts.Count == 0 ? string.Empty : "?" + string.Join("&", parts));
    }

    private static string Badge(DeliveryStatus status) => status switch
    {
        DeliveryStatus.Delivered => "<span class=\"badge ok\">delivered</span>",
        DeliveryStatus.DeadLettered => "<span class=\"badge dead\">dead-lettered</span>",
        _ => "<span class=\"badge pending\">pending</span>",
    };

    private static string LastResult(DeliveryRecord d) =>
        d.Attempts == 0 ? "-" : (d.LastStatusCode?.ToString(CultureInfo.InvariantCulture) ?? d.LastErrorKind.ToString()) + (d.LastError is { Length: > 0 } e ? ": " + (e.Length > 80 ? e[..80] + "…" : e) : string.Empty);

    private static void Field(StringBuilder html, string name, string value) =>
        html.Append("<dt>").Append(Html.Encode(name)).Append("</dt><dd>").Append(Html.Encode(value)).Append("</dd>");

    private static string? Text(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static DateTimeOffset? Time(string? value) =>
        DateTime.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time) ? new DateTimeOffset(time, TimeSpan.Zero) : null;

    private static string Ms(double[] sorted, double p) =>
        sorted.Length == 0 ? "-" : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))].ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    /// <summary>Stacked bars, one per minute: delivered (green), retried (amber), failed for good (red). Inline SVG, no script.</summary>
    private static string Chart(IReadOnlyList<AttemptSample> samples, DateTimeOffset since, DateTimeOffset now)
    {
        var minutes = Math.Max(1, (int)Math.Ceiling((now - since).TotalMinutes));
        var counts = new int[minutes, 3];
        foreach (var s in samples)
        {
            var minute = (int)((s.StartedAt - since).TotalMinutes);
            if (minute < 0 || minute >= minutes) continue;
            counts[minute, (int)s.Outcome]++;
        }

        var max = 1;
        for (var m = 0; m < minutes; m++) max = Math.Max(max, counts[m, 0] + counts[m, 1] + counts[m, 2]);
        const int width = 720, height = 160;
        var bar = (double)width / minutes;
        var svg = new StringBuilder($"<svg id=\"chart\" role=\"img\" aria-label=\"attempts per minute by outcome\" viewBox=\"0 0 {width} {height + 20}\" width=\"{width}\" height=\"{height + 20}\">");
        string[] classes = ["ok", "retry", "dead"];
        for (var m = 0; m < minutes; m++)
        {
            var y = (double)height;
            for (var o = 0; o < 3; o++)
            {
                if (counts[m, o] == 0) continue;
                var h = height * counts[m, o] / (double)max;
                y -= h;
                svg.Append(CultureInfo.InvariantCulture, $"<rect class=\"{classes[o]}\" x=\"{m * bar + 1:0.##}\" y=\"{y:0.##}\" width=\"{Math.Max(1, bar - 2):0.##}\" height=\"{h:0.##}\"><title>{since.AddMinutes(m).UtcDateTime:HH:mm} {classes[o]}: {counts[m, o]}</title></rect>");
            }
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{height + 15}\">{since.UtcDateTime:HH:mm} UTC</text><text x=\"{width}\" y=\"{height + 15}\" text-anchor=\"end\">{now.UtcDateTime:HH:mm} (max {max}/min)</text></svg>");
        svg.Append("<p class=\"legend\"><span class=\"badge ok\">delivered</span> <span class=\"badge retry\">retried</span> <span class=\"badge dead\">failed for good</span></p>");
        return svg.ToString();
    }
}
