using System.Xml.Linq;

namespace Conductor.Sdk.PackageTests;

/// <summary>Issue #22 points 5 and 6: the packages, as restored from their .nupkg files by a project outside the repository.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class PackageTests(PackedFeed feed)
{
    /// <summary>
    /// The package rule (README, "Packages"): the core carries no heavy third-party dependency, only Microsoft.Extensions,
    /// Microsoft.Data.Sqlite (the zero-configuration store) and Polly.Core; a provider family or store that needs a
    /// third-party library is a package of its own, which brings exactly that library.
    /// </summary>
    public static readonly Dictionary<string, string[]> AllowedDependencies = new()
    {
        ["Conductor.Sdk"] = ["Microsoft.Extensions.*", "Microsoft.Data.Sqlite", "Polly.Core"],
        ["Conductor.Sdk.AspNetCore"] = ["Conductor.Sdk"],
        ["Conductor.Sdk.Push"] = ["Conductor.Sdk", "Lib.Net.Http.WebPush", "Microsoft.Extensions.Configuration.Binder"],
        ["Conductor.Sdk.Smtp"] = ["Conductor.Sdk", "MailKit", "Microsoft.Extensions.Configuration.Binder"],
        ["Conductor.Sdk.Twilio"] = ["Conductor.Sdk", "Twilio", "Microsoft.IdentityModel.Tokens", "System.IdentityModel.Tokens.Jwt", "Microsoft.Extensions.Configuration.Binder"],
        ["Conductor.Sdk.PostgreSql"] = ["Conductor.Sdk", "Npgsql", "Microsoft.Extensions.Configuration.Binder"],
        ["Conductor.Sdk.EntityFrameworkCore"] = ["Conductor.Sdk", "Microsoft.EntityFrameworkCore.Relational"],
        // The test kit records push too, so it brings the push package; no test framework.
        ["Conductor.Sdk.Testing"] = ["Conductor.Sdk", "Conductor.Sdk.Push", "Microsoft.Extensions.TimeProvider.Testing", "Microsoft.Extensions.Configuration"],
    };

    /// <summary>The library each provider or store package exists for.</summary>
    private static readonly Dictionary<string, string> Brings = new()
    {
        ["Conductor.Sdk.Push"] = "Lib.Net.Http.WebPush",
        ["Conductor.Sdk.Smtp"] = "MailKit",
        ["Conductor.Sdk.Twilio"] = "Twilio",
        ["Conductor.Sdk.PostgreSql"] = "Npgsql",
        ["Conductor.Sdk.EntityFrameworkCore"] = "Microsoft.EntityFrameworkCore.Relational",
    };

    [Fact]
    public void Each_package_depends_only_on_what_the_package_rule_allows()
    {
        foreach (var (id, allowed) in AllowedDependencies)
        {
            var nuspec = feed.Nuspec(id);
            XNamespace ns = nuspec.Root!.Name.Namespace;
            var dependencies = nuspec.Descendants(ns + "dependency").Select(d => (string)d.Attribute("id")!).Distinct().ToList();
            var unexpected = dependencies.Where(d => !allowed.Any(a => a.EndsWith('*') ? d.StartsWith(a[..^1], StringComparison.Ordinal) : d == a)).ToList();
            Assert.True(unexpected.Count == 0, $"{id} depends on {string.Join(", ", unexpected)}, which the package rule does not allow it");
            // A package that exists for a third-party library brings it, and the core.
            if (Brings.TryGetValue(id, out var library)) Assert.Contains(library, dependencies);
            if (id != "Conductor.Sdk") Assert.Contains("Conductor.Sdk", dependencies);
        }

        // The core package carries the generator, its props (the ensemble globs) and the JSON Schema.
        var core = feed.Entries("Conductor.Sdk");
        Assert.Contains("analyzers/dotnet/cs/Conductor.Sdk.Generators.dll", core);
        Assert.Contains("analyzers/dotnet/cs/Conductor.Sdk.Model.dll", core);
        Assert.Contains("analyzers/dotnet/cs/YamlDotNet.dll", core);
        Assert.Contains("buildTransitive/Conductor.Sdk.props", core);
        Assert.Contains("schema/ensemble.schema.json", core);
        Assert.DoesNotContain(core, e => e.Contains("WebPush", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void The_README_package_table_lists_every_package()
    {
        var readme = File.ReadAllText(Path.Combine(feed.RepoRoot, "README.md"));
        foreach (var (id, _) in PackedFeed.Packages) Assert.Contains($"| `{id}` |", readme);
    }

    [Fact]
    public void A_fresh_app_restores_every_package_builds_with_the_generator_from_the_package_and_delivers()
    {
        var app = feed.NewFolder("fresh-app");
        var references = string.Join("\n", AllowedDependencies.Keys.Select(id => $"""    <PackageReference Include="{id}" Version="{feed.Version}" />"""));
        File.WriteAllText(Path.Combine(app, "FreshApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
            {references}
              </ItemGroup>
            </Project>
            """);
        // The globs of the package's props: ensembles/**/*.yaml (at any depth) and **/*.ensemble.yaml (anywhere).
        Write(app, "ensembles/orders/order-shipped.yaml", """
            name: order-shipped
            notifications:
              - type: webhook
                url: ${env.FRESH_RECEIVER}/hooks
                secret: ${env.FRESH_SECRET}
                events: [execution.completed]
            """);
        Write(app, "Billing/invoice.ensemble.yaml", """
            name: invoice-paid
            notifications:
              - type: webhook
                url: ${env.FRESH_RECEIVER}/hooks
                secret: ${env.FRESH_SECRET}
                events: [execution.completed]
            """);
        // Outside both globs: if the props picked it up, its missing name would fail the build.
        Write(app, "notes/not-an-ensemble.yaml", "title: meeting notes\n");
        Write(app, "Program.cs", """
            using FreshApp.Ensembles;
            using Microsoft.EntityFrameworkCore; // EF Core's own namespace, where its extensions (and EnlistConductorOutbox) live

            // No Conductor using: AddConductor and every Add…/Use… method are where .NET users look for them.
            var port = System.Net.Sockets.TcpListener.Create(0) is var probe && Start(probe) ? ((System.Net.IPEndPoint)probe.LocalEndpoint).Port : 0;
            probe.Stop();
            var address = $"http://127.0.0.1:{port}";
            const string secret = "fresh-app-signing-secret";
            var builder = WebApplication.CreateBuilder(args);
            builder.WebHost.UseUrls(address);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Configuration["FRESH_RECEIVER"] = address;
            builder.Configuration["FRESH_SECRET"] = secret;
            builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32")).AddEnsembles();
            builder.Services.AddHealthChecks().AddConductor();

            var arrived = new System.Collections.Concurrent.ConcurrentBag<string>();
            var all = new TaskCompletionSource();
            await using var app = builder.Build();
            app.MapPost("/hooks", (HttpContext context) =>
            {
                arrived.Add(Conductor.Sdk.AspNetCore.VerifiedWebhook.Get(context)!.DeliveryId!);
                if (arrived.Count == 2) all.TrySetResult();
                return Results.NoContent();
            }).RequireConductorSignature(o => o.Secrets.Add(secret));
            await app.StartAsync();
            await app.Services.GetRequiredService<OrderShippedEnsemble>().Notify.ExecutionCompletedAsync("order-1", new OrderShippedEnsemble.Output(), TimeSpan.FromMilliseconds(5));
            await app.Services.GetRequiredService<InvoicePaidEnsemble>().Notify.ExecutionCompletedAsync("invoice-1", new InvoicePaidEnsemble.Output(), TimeSpan.FromMilliseconds(5));
            await all.Task.WaitAsync(TimeSpan.FromSeconds(30));
            var health = await app.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>().CheckHealthAsync();
            Console.WriteLine($"delivered {arrived.Count} verified webhooks; health {health.Status}");
            await app.StopAsync();

            static bool Start(System.Net.Sockets.TcpListener listener) { listener.Start(); return true; }

            // Compiled, not run: the registrations of the other packages, reached with no extra using either.
            static class Registrations
            {
                public static void All(IServiceCollection services) => services.AddConductor()
                    .UseSqlite("App_Data/app.db")
                    .UsePostgreSql("Host=localhost;Database=app")
                    .AddSmtpEmail(o => o.Host = "smtp.example.com")
                    .AddTwilioSms()
                    .AddFirebasePush()
                    .AddApnsPush()
                    .AddWebPush();

                public static IDisposable Outbox(DbContext db) => db.EnlistConductorOutbox();
            }
            """);

        var run = PackedFeed.Run(app, "dotnet", "run").Succeeded("dotnet run of the fresh app");
        Assert.Contains("delivered 2 verified webhooks; health Healthy", run.Output);
        // WebApplication reloads appsettings.json from the content root, so the default store is outside it.
        Assert.True(File.Exists(Path.Combine(app + ".data", "Conductor", "FreshApp", "conductor-deliveries.db")), "the default SQLite store was not created in the user's local application data");
        Assert.False(Directory.Exists(Path.Combine(app, "App_Data")), "the default store was written under the watched content root");

        // A mistake in a YAML file is a located build error, through the packaged generator.
        Write(app, "ensembles/broken.yaml", """
            name: broken
            notifications:
              - type: webhook
                url: https://hooks.example.com/x
                events: [execution.finished]
            """);
        var broken = PackedFeed.Run(app, "dotnet", "build");
        Assert.NotEqual(0, broken.ExitCode);
        Assert.Matches(@"ensembles/broken\.yaml\(5,\d+\): error CND0004: unknown event 'execution\.finished'", broken.Output);
    }

    [Fact]
    public void The_conductor_tool_installs_from_the_feed_and_validates_ensembles()
    {
        var folder = feed.NewFolder("tool");
        PackedFeed.Run(folder, "dotnet", "tool", "install", "Conductor.Cli", "--tool-path", Path.Combine(folder, "tools"), "--version", feed.Version, "--add-source", feed.Feed).Succeeded("dotnet tool install");
        Write(folder, "ensembles/orders.yaml", "name: orders\nnotifications:\n  - type: webhook\n    url: https://hooks.example.com/x\n    secret: ${env.SECRET}\n    events: [execution.failed]\n");
        var conductor = Path.Combine(folder, "tools", "conductor");
        var valid = PackedFeed.Run(folder, conductor, "validate", "ensembles").Succeeded("conductor validate");
        Assert.Contains("1 file checked: 0 errors, 0 warnings, 0 info.", valid.Output);
        var schema = PackedFeed.Run(folder, conductor, "schema").Succeeded("conductor schema");
        Assert.Equal(File.ReadAllText(Path.Combine(feed.RepoRoot, "schema", "ensemble.schema.json")).ReplaceLineEndings("\n"), schema.Output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task The_templates_install_the_app_runs_in_Development_and_delivers_to_itself_and_its_test_project_passes()
    {
        var folder = feed.NewFolder("templates");
        var hive = Path.Combine(folder, ".hive");
        PackedFeed.Run(folder, "dotnet", "new", "install", Path.Combine(feed.Feed, $"Conductor.Sdk.Templates.{feed.Version}.nupkg"), "--debug:custom-hive", hive).Succeeded("dotnet new install");

        // No --ConductorVersion: the templates default to the version they were packed with.
        PackedFeed.Run(folder, "dotnet", "new", "conductor-app", "-n", "Shop", "--debug:custom-hive", hive).Succeeded("dotnet new conductor-app");
        var shop = Path.Combine(folder, "Shop");
        Assert.Contains($"Include=\"Conductor.Sdk\" Version=\"{feed.Version}\"", File.ReadAllText(Path.Combine(shop, "Shop.csproj")));
        Assert.True(File.Exists(Path.Combine(shop, "ensembles", "ensemble.schema.json")), "the schema the YAML's $schema line points at");
        PackedFeed.Run(shop, "dotnet", "build").Succeeded("building conductor-app");
        await FirstRunDeliversAsync(shop);

        // Its tests: WebApplicationFactory, the test kit, typed output, scripted receivers, a fake agent.
        PackedFeed.Run(folder, "dotnet", "new", "conductor-tests", "-n", "Shop.Tests", "--app", "Shop", "--debug:custom-hive", hive).Succeeded("dotnet new conductor-tests");
        var tests = PackedFeed.Run(Path.Combine(folder, "Shop.Tests"), "dotnet", "test").Succeeded("dotnet test of the conductor-tests project");
        Assert.Contains("Passed!  - Failed:     0, Passed:     4", tests.Output);

        // The agent template binds to the project's namespace (MSBuild evaluation of the restored project).
        PackedFeed.Run(shop, "dotnet", "new", "conductor-agent", "-n", "CheckStock", "--debug:custom-hive", hive).Succeeded("dotnet new conductor-agent");
        Assert.Contains("namespace Shop;", File.ReadAllText(Path.Combine(shop, "Agents", "CheckStockAgent.cs")));
        Assert.True(File.Exists(Path.Combine(shop, "ensembles", "check-stock.yaml")));
        var program = Path.Combine(shop, "Program.cs");
        File.WriteAllText(program, File.ReadAllText(program).Replace(
            ".AddOrderFulfilment(agents => agents.ShipOrder<ShipOrder>());",
            ".AddOrderFulfilment(agents => agents.ShipOrder<ShipOrder>())\n    .AddCheckStock(agents => agents.CheckStock<CheckStockAgent>());", StringComparison.Ordinal));
        PackedFeed.Run(shop, "dotnet", "build").Succeeded("building conductor-app with the conductor-agent item");

        PackedFeed.Run(folder, "dotnet", "new", "conductor-receiver", "-n", "Hooks", "--debug:custom-hive", hive).Succeeded("dotnet new conductor-receiver");
        PackedFeed.Run(Path.Combine(folder, "Hooks"), "dotnet", "build").Succeeded("building conductor-receiver");
    }

    /// <summary>
    /// dotnet run, as a newcomer types it: the launch profile makes it Development, the webhook goes to the app's own
    /// verifying receiver, and an order placed through the API arrives there signed.
    /// </summary>
    private static async Task FirstRunDeliversAsync(string app)
    {
        var url = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "Properties", "launchSettings.json")))
            .RootElement.GetProperty("profiles").GetProperty("http").GetProperty("applicationUrl").GetString()!;
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { WorkingDirectory = app, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "run", "--no-build" }) start.ArgumentList.Add(arg);
        start.Environment.Remove("CI");
        start.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        start.Environment.Remove("DOTNET_ENVIRONMENT");
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Line(string? line)
        {
            if (line is null) return;
            lock (output) output.AppendLine(line);
            if (line.Contains("Received execution.completed delivery", StringComparison.Ordinal)) received.TrySetResult();
        }

        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            HttpResponseMessage? response = null;
            for (var i = 0; i < 300 && response is null; i++)
            {
                try
                {
                    response = await client.PostAsync("/orders/A-1?customerEmail=ada@example.com", null);
                }
                catch (HttpRequestException) when (!process.HasExited)
                {
                    await Task.Delay(100);
                }
            }

            Assert.True(response is { IsSuccessStatusCode: true }, $"the app did not take the order:\n{output}");
            var done = await Task.WhenAny(received.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(done == received.Task, $"no signed delivery reached the app's own receiver:\n{output}");
            lock (output) Assert.Contains("signature verified", output.ToString());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>The test kit depends on no test framework: it works the same under NUnit and MSTest as under xUnit.</summary>
    [Theory]
    [InlineData("nunit")]
    [InlineData("mstest")]
    public void The_test_kit_works_under_NUnit_and_MSTest(string framework)
    {
        var folder = feed.NewFolder("kit-" + framework);
        var runner = framework == "nunit"
            ? """
                <PackageReference Include="NUnit" Version="4.4.0" />
                <PackageReference Include="NUnit3TestAdapter" Version="5.0.0" />
              """
            : """
                <PackageReference Include="MSTest.TestFramework" Version="4.5.3" />
                <PackageReference Include="MSTest.TestAdapter" Version="4.5.3" />
              """;
        File.WriteAllText(Path.Combine(folder, "KitProbe.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <IsTestProject>true</IsTestProject>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Microsoft.NET.Test.Sdk" Version="18.0.1" />
            {runner}
                <PackageReference Include="Conductor.Sdk" Version="{feed.Version}" />
                <PackageReference Include="Conductor.Sdk.Testing" Version="{feed.Version}" />
              </ItemGroup>
            </Project>
            """);
        Write(folder, "ensembles/alerts.yaml", """
            name: alerts
            notifications:
              - type: webhook
                url: ${env.HOOK}
                secret: ${env.SECRET}
                events: [execution.completed]
            flow:
              - agent: check
                output: {ok: bool}
            outputs:
              ok: ${check.output.ok}
            """);
        const string Arrange = """
                    var services = new ServiceCollection();
                    services.AddLogging();
                    services.AddConductorTestKit(k => { k.Environment["HOOK"] = "https://hooks.test/alerts"; k.Environment["SECRET"] = "s"; })
                        .AddAlerts(agents => agents.Check((input, context) => new() { Ok = true }));
                    await using var provider = services.BuildServiceProvider();
                    var kit = provider.GetConductorTestKit();
                    await provider.GetRequiredService<AlertsEnsemble>().RunAsync();
                    var sent = await kit.Webhooks.WaitForAsync<AlertsEnsemble.Output>();
            """;
        Write(folder, "KitTests.cs", framework == "nunit"
            ? $$"""
                using Conductor.Sdk.Testing;
                using KitProbe.Ensembles;
                using Microsoft.Extensions.DependencyInjection;
                using NUnit.Framework;

                public class KitTests
                {
                    [Test]
                    public async Task The_webhook_is_captured_typed_and_a_wait_that_is_not_met_fails()
                    {
                {{Arrange}}
                        Assert.That(sent.Output.Ok, Is.True);
                        Assert.ThrowsAsync<ConductorTestKitException>(() => kit.Emails.WaitForAsync(1, timeout: TimeSpan.FromMilliseconds(100)));
                    }
                }
                """
            : $$"""
                using Conductor.Sdk.Testing;
                using KitProbe.Ensembles;
                using Microsoft.Extensions.DependencyInjection;
                using Microsoft.VisualStudio.TestTools.UnitTesting;

                [TestClass]
                public class KitTests
                {
                    [TestMethod]
                    public async Task The_webhook_is_captured_typed_and_a_wait_that_is_not_met_fails()
                    {
                {{Arrange}}
                        Assert.IsTrue(sent.Output.Ok);
                        await Assert.ThrowsExactlyAsync<ConductorTestKitException>(() => kit.Emails.WaitForAsync(1, timeout: TimeSpan.FromMilliseconds(100)));
                    }
                }
                """);
        var result = PackedFeed.Run(folder, "dotnet", "test").Succeeded($"dotnet test with {framework}");
        Assert.Contains("Failed:     0, Passed:     1,", result.Output);
    }

    [Fact]
    public void The_templates_reference_the_version_they_were_packed_with()
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed.Feed, $"Conductor.Sdk.Templates.{feed.Version}.nupkg"));
        foreach (var template in new[] { "conductor-app", "conductor-receiver", "conductor-tests" })
        {
            using var stream = archive.GetEntry($"content/{template}/.template.config/template.json")!.Open();
            var json = System.Text.Json.JsonDocument.Parse(stream);
            Assert.Equal(feed.Version, json.RootElement.GetProperty("symbols").GetProperty("ConductorVersion").GetProperty("defaultValue").GetString());
        }
    }

    private static void Write(string folder, string relative, string text)
    {
        var path = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
