using Conductor.Sdk.Delivery;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>
/// Issue #23 point 4: the dashboard in a real browser, headless Chromium from the Debian packages (chromium and
/// chromium-driver; tests/run.sh installs them) driven by Selenium. It clicks list → dead letters → detail → replay and
/// checks that the replayed delivery reaches a real receiver. Screenshots of the main views go to docs/dashboard/.
/// </summary>
public sealed class DashboardBrowserTests : IDisposable
{
    private readonly ChromeDriver _browser;

    public DashboardBrowserTests()
    {
        var options = new ChromeOptions { BinaryLocation = File.Exists("/usr/bin/chromium") ? "/usr/bin/chromium" : null };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1360,860", "--force-device-scale-factor=1");
        // The Debian driver, named explicitly: Selenium Manager would try to download one, and nothing can be downloaded here.
        var service = ChromeDriverService.CreateDefaultService(File.Exists("/usr/bin/chromedriver") ? "/usr/bin" : AppContext.BaseDirectory, "chromedriver");
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        _browser = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    private static string Screenshots
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Conductor.Sdk.sln"))) directory = directory.Parent;
            var path = Path.Combine(directory?.FullName ?? Path.GetTempPath(), "docs", "dashboard");
            Directory.CreateDirectory(path);
            return path;
        }
    }

    private void Screenshot(string name) => _browser.GetScreenshot().SaveAsFile(Path.Combine(Screenshots, name + ".png"));

    private IWebElement Wait(By by)
    {
        // A form post replaces the page: an element found on the old one goes stale while the new one loads.
        var wait = new WebDriverWait(_browser, TimeSpan.FromSeconds(15));
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        return wait.Until(d => d.FindElements(by).FirstOrDefault(e => e.Displayed));
    }

    [Fact]
    public async Task Clicking_from_the_list_to_a_dead_letter_and_replaying_it_delivers_it_to_the_receiver()
    {
        // The receiver refuses the first attempt of each delivery for good (410 Gone) and accepts the replay.
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        await using var receiver = await Receiver.StartAsync((request, _) =>
            seen.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1) == 1 ? Reply.Status(410) : Reply.Status(200));
        await using var app = await DashboardApp.StartAsync(receiver.Url());
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add((await app.FailAsync($"exec-browser-{i}")).DeliveryIds.Single());
        foreach (var id in ids) await app.WaitForStatusAsync(id, DeliveryStatus.DeadLettered);
        var target = ids[1];

        _browser.Navigate().GoToUrl(new Uri(app.BaseAddress, "/conductor/"));
        Assert.Contains("Deliveries", Wait(By.TagName("h1")).Text);
        Assert.Equal(3, _browser.FindElements(By.CssSelector("#deliveries tbody a.delivery")).Count);
        Screenshot("list");

        Wait(By.Id("nav-dead")).Click();
        Assert.Equal("Dead letters", Wait(By.TagName("h1")).Text);
        Wait(By.LinkText(target)).Click();

        Assert.Equal("Delivery " + target, Wait(By.TagName("h1")).Text);
        Assert.Contains("dead-lettered", Wait(By.Id("status")).Text);
        var attempt = _browser.FindElements(By.CssSelector("#attempts tbody tr")).Single();
        Assert.Contains("410", attempt.Text);
        Assert.Contains("Permanent", attempt.Text);
        Assert.Contains("\"type\": \"PaymentError\"", Wait(By.Id("payload")).Text);
        Screenshot("detail");

        Wait(By.Id("replay")).Click();
        Assert.Contains("Replayed 1 delivery.", Wait(By.Id("notice")).Text);
        await receiver.WaitForAsync(4); // three first attempts, then the replay
        var delivered = await app.WaitForStatusAsync(target, DeliveryStatus.Delivered);
        Assert.Equal(2, delivered.Attempts);
        Assert.Equal(2, seen[target]);
        Assert.All(ids.Where(id => id != target), id => Assert.Equal(1, seen[id]));

        // The page shows the second attempt once reloaded.
        _browser.Navigate().Refresh();
        Assert.Contains("delivered", Wait(By.Id("status")).Text);
        Assert.Equal(2, _browser.FindElements(By.CssSelector("#attempts tbody tr")).Count);

        Wait(By.Id("nav-summary")).Click();
        Assert.Equal("Summary", Wait(By.TagName("h1")).Text);
        // Four attempts in this window: three refused for good (red) and the replay delivered (green).
        var bars = _browser.FindElements(By.CssSelector("#chart rect")).Select(r => r.GetAttribute("class")).ToList();
        Assert.Contains("dead", bars);
        Assert.Contains("ok", bars);
        var latency = Wait(By.CssSelector("#latency tbody tr")).Text;
        Assert.Contains("127.0.0.1", latency);
        Assert.Contains(" 4 1 ", " " + latency.Replace("\n", " ", StringComparison.Ordinal) + " "); // 4 attempts, 1 delivered
        Screenshot("summary");
    }

    /// <summary>The notice of the page a form post returned to (read again if the page was still being replaced).</summary>
    private string Notice()
    {
        var wait = new WebDriverWait(_browser, TimeSpan.FromSeconds(15));
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        return wait.Until(d => d.FindElements(By.Id("notice")).FirstOrDefault(e => e.Displayed)?.Text);
    }

    [Fact]
    public async Task The_endpoints_page_shows_a_failing_endpoint_and_disabling_then_enabling_it_holds_and_then_sends_its_deliveries()
    {
        var healed = false;
        await using var dead = await Receiver.StartAsync((_, _) => Volatile.Read(ref healed) ? Reply.Status(200) : Reply.Status(503));
        await using var healthy = await Receiver.StartAsync(Reply.Status(200));
        await using var app = await DashboardApp.StartAsync(dead.Url(), services: b => b.Services.AddSingleton<Conductor.Sdk.Notifications.NotificationDefinition>(
            new Conductor.Sdk.Notifications.WebhookNotificationDefinition("billing", 0, new[] { Conductor.Sdk.Events.EventNames.ExecutionFailed }, healthy.Url(), new[] { "s" }, retries: 0)));
        var failed = new List<string>();
        var dispatcher = app.Services.GetRequiredService<NotificationDispatcher>();
        for (var i = 0; i < 3; i++)
        {
            failed.Add((await app.FailAsync($"exec-ep-{i}")).DeliveryIds.Single());
            await dispatcher.DispatchAsync(new Conductor.Sdk.Events.ExecutionFailed(DateTimeOffset.UtcNow, "billing", $"exec-bill-{i}", new Conductor.Sdk.Events.ErrorInfo("x", "X"), 1));
        }
        var admin = app.Services.GetRequiredService<IEndpointAdmin>();
        await WorkerProcess.WaitUntilAsync(async () => (await admin.ListAsync()).Count(e => e.Health == EndpointHealth.Failing) == 1 && healthy.Count == 3, TimeSpan.FromSeconds(30), "the failing state");
        var deadEndpoint = dead.BaseAddress.GetLeftPart(UriPartial.Authority);

        _browser.Navigate().GoToUrl(new Uri(app.BaseAddress, "/conductor/"));
        Wait(By.Id("nav-endpoints")).Click();
        Assert.Equal("Endpoints", Wait(By.TagName("h1")).Text);
        IWebElement Row(string endpoint) => Wait(By.CssSelector($"#endpoints tr[data-endpoint='{endpoint}']"));
        var row = Row(deadEndpoint);
        Assert.Equal("failing", row.FindElement(By.CssSelector(".state")).Text);
        Assert.Contains("HTTP 503", row.Text);
        Assert.Contains("0 %", row.Text);
        var fine = Row(healthy.BaseAddress.GetLeftPart(UriPartial.Authority));
        Assert.Equal("healthy", fine.FindElement(By.CssSelector(".state")).Text);
        Assert.Contains("100 %", fine.Text);
        Screenshot("endpoints");

        Row(deadEndpoint).FindElement(By.CssSelector("button.disable")).Click();
        Assert.Contains($"Disabled {deadEndpoint}", Notice());
        Assert.Equal("disabled", Row(deadEndpoint).FindElement(By.CssSelector(".state")).Text);
        Assert.Contains("disabled from the dashboard", Row(deadEndpoint).Text);

        // While disabled, a new delivery is kept and not attempted.
        var attempts = dead.Count;
        var kept = (await app.FailAsync("exec-ep-kept")).DeliveryIds.Single();
        await Task.Delay(500);
        Assert.Equal(attempts, dead.Count);
        Assert.Equal(DeliveryStatus.Pending, (await app.Services.GetRequiredService<IDeliveryStore>().GetAsync(kept))!.Status);
        _browser.Navigate().Refresh();
        Assert.Equal("1", Row(deadEndpoint).FindElement(By.CssSelector(".due")).Text);

        Volatile.Write(ref healed, true);
        Row(deadEndpoint).FindElement(By.CssSelector("button.enable")).Click();
        Assert.Contains($"Enabled {deadEndpoint}", Notice());
        await app.WaitForStatusAsync(kept, DeliveryStatus.Delivered);
        Assert.Equal("healthy", Row(deadEndpoint).FindElement(By.CssSelector(".state")).Text);
    }

    [Fact]
    public async Task Selecting_several_dead_letters_replays_them_together()
    {
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        await using var receiver = await Receiver.StartAsync((request, _) =>
            seen.AddOrUpdate(request.Header("X-Conductor-Delivery-Id"), 1, (_, n) => n + 1) == 1 ? Reply.Status(410) : Reply.Status(200));
        await using var app = await DashboardApp.StartAsync(receiver.Url());
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add((await app.FailAsync($"exec-select-{i}")).DeliveryIds.Single());
        foreach (var id in ids) await app.WaitForStatusAsync(id, DeliveryStatus.DeadLettered);

        _browser.Navigate().GoToUrl(new Uri(app.BaseAddress, "/conductor/?status=deadlettered"));
        foreach (var id in ids.Take(2)) Wait(By.CssSelector($"input[type=checkbox][value='{id}']")).Click();
        Wait(By.Id("replay-selected")).Click();
        Assert.Contains("Replayed 2 deliveries.", Wait(By.Id("notice")).Text);
        foreach (var id in ids.Take(2)) await app.WaitForStatusAsync(id, DeliveryStatus.Delivered);
        Assert.Equal(DeliveryStatus.DeadLettered, (await app.WaitForStatusAsync(ids[2], DeliveryStatus.DeadLettered)).Status);
    }

    public void Dispose()
    {
        _browser.Quit();
        _browser.Dispose();
    }
}
