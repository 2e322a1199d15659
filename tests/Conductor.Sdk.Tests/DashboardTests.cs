using System.Net;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>Issue #23: the dashboard's safety rules and pages over HTTP (the browser tests click through them).</summary>
public sealed class DashboardTests
{
    private static HttpClient Client(DashboardApp app) => new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() }) { BaseAddress = app.BaseAddress };

    [Fact]
    public void Mapping_without_an_authorization_policy_is_refused_and_anonymous_only_works_in_Development()
    {
        var production = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", Args = [] });
        production.Services.AddAntiforgery();
        production.Services.AddConductor().UseInMemoryStore();
        var app = production.Build();
        var none = Assert.Throws<InvalidOperationException>(() => app.MapConductorDashboard());
        Assert.Contains("needs an authorization policy", none.Message);
        Assert.Contains("o.AuthorizationPolicy = \"ops\"", none.Message);
        var anonymous = Assert.Throws<InvalidOperationException>(() => app.MapConductorDashboard("/conductor", o => o.AllowAnonymousInDevelopment = true));
        Assert.Contains("honoured only in the Development environment, and this host runs as 'Production'", anonymous.Message);
        app.MapConductorDashboard("/conductor", o => o.AuthorizationPolicy = "ops"); // a policy is enough
        var bad = Assert.Throws<ArgumentException>(() => app.MapConductorDashboard("/ops", o =>
        {
            o.AuthorizationPolicy = "ops";
            o.PageSize = 5000;
            o.SummaryAttemptLimit = 0;
        }));
        Assert.Contains("PageSize must be between 10 and 500 (it is 5000); SummaryAttemptLimit must be at least 1 (it is 0)", bad.Message);
    }

    [Fact]
    public async Task With_a_policy_an_anonymous_visitor_is_sent_to_sign_in()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        await using var app = await DashboardApp.StartAsync(receiver.Url(), o => o.AuthorizationPolicy = "ops", builder =>
        {
            builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie();
            builder.Services.AddAuthorization(o => o.AddPolicy("ops", p => p.RequireRole("ops")));
        });
        using var client = Client(app);
        foreach (var path in new[] { "/conductor/", "/conductor/summary", "/conductor/deliveries/x", "/conductor/assets/dashboard.css" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Contains("/Account/Login", response.Headers.Location!.ToString());
        }
    }

    [Fact]
    public async Task Replay_without_the_forms_antiforgery_token_is_refused_and_replays_nothing()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(410));
        await using var app = await DashboardApp.StartAsync(receiver.Url());
        var id = (await app.FailAsync("exec-csrf")).DeliveryIds.Single();
        await app.WaitForStatusAsync(id, DeliveryStatus.DeadLettered);
        using var client = Client(app);

        // A cross-site form post: the right fields, no token.
        var forged = await client.PostAsync("/conductor/replay", new FormUrlEncodedContent([new("id", id), new("returnUrl", "/conductor/")]));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("anti-forgery token is missing or invalid", await forged.Content.ReadAsStringAsync());
        Assert.Equal(DeliveryStatus.DeadLettered, (await app.Services.GetRequiredService<IDeliveryStore>().GetAsync(id))!.Status);
        Assert.Equal(1, receiver.Count);
    }

    [Fact]
    public async Task Endpoint_changes_need_the_forms_antiforgery_token_and_name_a_known_endpoint()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(503));
        await using var app = await DashboardApp.StartAsync(receiver.Url());
        var id = (await app.FailAsync("exec-ep")).DeliveryIds.Single();
        await app.WaitForStatusAsync(id, DeliveryStatus.DeadLettered);
        var endpoint = receiver.BaseAddress.GetLeftPart(UriPartial.Authority);
        using var client = Client(app);

        var forged = await client.PostAsync("/conductor/endpoints/disable", new FormUrlEncodedContent([new("endpoint", endpoint)]));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("anti-forgery token is missing or invalid", await forged.Content.ReadAsStringAsync());
        Assert.NotEqual(EndpointHealth.Disabled, (await app.Services.GetRequiredService<IEndpointAdmin>().ListAsync()).Single().Health);

        // With the page's token: an unknown endpoint is refused, a known one is disabled.
        var page = await client.GetStringAsync("/conductor/endpoints");
        var token = System.Text.RegularExpressions.Regex.Match(page, "name=\"(__RequestVerificationToken[^\"]*)\" value=\"([^\"]+)\"");
        KeyValuePair<string, string> Token() => new(WebUtility.HtmlDecode(token.Groups[1].Value), WebUtility.HtmlDecode(token.Groups[2].Value));
        var unknown = await client.PostAsync("/conductor/endpoints/disable", new FormUrlEncodedContent([Token(), new("endpoint", "https://nowhere.example.com")]));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        var disabled = await client.PostAsync("/conductor/endpoints/disable", new FormUrlEncodedContent([Token(), new("endpoint", endpoint)]));
        Assert.Equal(HttpStatusCode.Redirect, disabled.StatusCode);
        Assert.Equal(EndpointHealth.Disabled, (await app.Services.GetRequiredService<IEndpointAdmin>().ListAsync()).Single().Health);
    }

    [Fact]
    public async Task Pages_are_self_contained_framed_by_nobody_and_payload_fields_are_redacted()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(410));
        await using var app = await DashboardApp.StartAsync(receiver.Url(), o =>
        {
            o.AllowAnonymousInDevelopment = true;
            o.RedactedFields.Add("message"); // the error message of execution.failed, as an example of an app's sensitive field
        });
        var id = (await app.FailAsync("exec-redact")).DeliveryIds.Single();
        await app.WaitForStatusAsync(id, DeliveryStatus.DeadLettered);
        using var client = Client(app);

        var detail = await client.GetAsync($"/conductor/deliveries/{id}");
        var page = await detail.Content.ReadAsStringAsync();
        var html = WebUtility.HtmlDecode(page);
        Assert.Equal(HttpStatusCode.OK, detail.StatusCode);
        Assert.Equal("DENY", detail.Headers.GetValues("X-Frame-Options").Single());
        Assert.Contains("default-src 'none'", detail.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("\"message\": \"[redacted]\"", html);
        Assert.DoesNotContain("card declined", html);
        Assert.Contains("PaymentError", html); // other fields are shown
        Assert.DoesNotContain("dashboard-secret", html); // the signing secret is never shown
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http://", html.Replace(receiver.BaseAddress.GetLeftPart(UriPartial.Authority), string.Empty, StringComparison.Ordinal), StringComparison.Ordinal); // no external asset
        Assert.Contains(">410<", html);

        var css = await client.GetAsync("/conductor/assets/dashboard.css");
        Assert.Equal("text/css", css.Content.Headers.ContentType!.MediaType);
        Assert.Contains(".badge", await css.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_list_pages_by_keyset_and_filters_by_status_and_search()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(410));
        await using var app = await DashboardApp.StartAsync(receiver.Url(), o =>
        {
            o.AllowAnonymousInDevelopment = true;
            o.PageSize = 10;
        });
        var store = app.Services.GetRequiredService<IDeliveryStore>();
        var now = DateTimeOffset.UtcNow.AddDays(1); // due tomorrow: the worker leaves them alone
        await store.EnqueueAsync(Enumerable.Range(0, 25).Select(i => new DeliveryRecord($"dlv_page_{i:D2}", "orders", "execution.completed", "orders#0", "webhook",
            i == 7 ? "https://special.example.com" : "https://a.example.com", "{}"u8.ToArray(), now.AddSeconds(i), now, DeliveryStatus.Pending, 0, 1)).ToList());
        using var client = Client(app);

        var ids = new List<string>();
        var next = "/conductor/?q=dlv_page";
        while (next is not null)
        {
            var html = await client.GetStringAsync(next);
            ids.AddRange(System.Text.RegularExpressions.Regex.Matches(html, "class=\"delivery\" href=\"[^\"]+\">([^<]+)<").Select(m => m.Groups[1].Value));
            var older = System.Text.RegularExpressions.Regex.Match(html, "id=\"older\" href=\"([^\"]+)\"");
            next = older.Success ? WebUtility.HtmlDecode(older.Groups[1].Value) : null;
        }

        Assert.Equal(Enumerable.Range(0, 25).Reverse().Select(i => $"dlv_page_{i:D2}"), ids);
        var special = await client.GetStringAsync("/conductor/?q=SPECIAL");
        Assert.Contains("dlv_page_07", special);
        Assert.DoesNotContain("dlv_page_08", special);
        var pending = await client.GetStringAsync("/conductor/?status=deadlettered&q=dlv_page");
        Assert.Contains("No deliveries match.", pending);
    }

    [Fact]
    public async Task An_attempt_shows_the_start_of_the_refusing_receivers_answer()
    {
        await using var receiver = await Receiver.StartAsync((_, _) => Reply.Status(200), map: web => web.MapPost("/hooks", () =>
            Microsoft.AspNetCore.Http.Results.Text("{\"error\":\"subscription\ncancelled\"}" + new string('x', 500), "application/json", statusCode: 410)));
        await using var app = await DashboardApp.StartAsync(receiver.Url());
        var id = (await app.FailAsync("exec-excerpt")).DeliveryIds.Single();
        await app.WaitForStatusAsync(id, DeliveryStatus.DeadLettered);

        var attempt = (await app.Services.GetRequiredService<IDeliveryStore>().AttemptsAsync(id)).Single();
        Assert.StartsWith("HTTP 410 Gone: {\"error\":\"subscription cancelled\"}xxx", attempt.Error);
        Assert.Equal("HTTP 410 Gone: ".Length + 200, attempt.Error!.Length); // the first 200 bytes, on one line
        using var client = Client(app);
        var page = WebUtility.HtmlDecode(await client.GetStringAsync($"/conductor/deliveries/{id}"));
        Assert.Contains("subscription cancelled", page);
        // A dead letter says when retention removes it: 30 days (the default) after its attempt ended.
        var finished = (await app.Services.GetRequiredService<IDeliveryStore>().GetAsync(id))!.FinishedAt!.Value;
        Assert.Equal(attempt.StartedAt + attempt.Duration, finished);
        Assert.Contains($"<dd id=\"expires\">{(finished + TimeSpan.FromDays(30)).UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture)} (removed by retention)</dd>", page);
    }
}
