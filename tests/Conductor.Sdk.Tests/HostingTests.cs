using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Diagnostics;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>AddConductor in a real host: validation on start, the hosted worker, telemetry and logs.</summary>
public sealed class HostingTests
{
    /// <summary>A notification for a channel no package provides here.</summary>
    private sealed record PagerStub(string Ensemble) : NotificationDefinition(Ensemble, 0, new[] { EventNames.ExecutionFailed })
    {
        public override string Channel => "pager";
        public override int Retries => 3;
    }

    private static IHost BuildHost(Action<ConductorBuilder> configure, Action<ConductorOptions>? options = null, TimeProvider? time = null, ILoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
        }

        if (time is not null) builder.Services.AddSingleton(time);
        configure(builder.Services.AddConductor(o =>
        {
            o.AllowedNetworks.Add("127.0.0.1/32");
            options?.Invoke(o);
        }).UseInMemoryStore());
        return builder.Build();
    }

    [Fact]
    public async Task Invalid_options_fail_the_host_at_start_with_every_problem_listed()
    {
        using var host = BuildHost(_ => { }, o =>
        {
            o.AllowedNetworks.Add("localhost");
            o.MaxConcurrentPerEndpoint = 0;
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("AllowedNetworks entry 'localhost' is not CIDR notation", error.Message);
        Assert.Contains("MaxConcurrentPerEndpoint must be at least 1", error.Message);
    }

    [Fact]
    public async Task A_notification_without_its_channel_fails_the_host_at_start()
    {
        using var host = BuildHost(b => b.AddNotification(new PagerStub("alerts")));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("ensemble 'alerts', pager notification #1 needs the 'pager' channel", error.Message);
    }

    [Fact]
    public async Task A_notification_whose_provider_is_not_registered_fails_the_host_at_start_with_the_call_to_add()
    {
        var body = new CompiledTemplate("x", (in Conductor.Sdk.Ensembles.TemplateContext _) => "x");
        // The push channel is there (another push provider registered it) but not the apns provider.
        using var host = BuildHost(b => b
            .AddChannel<Push.PushChannel>()
            .AddNotification(new SmsNotificationDefinition("alerts", 0, new[] { EventNames.ExecutionFailed }, "twilio", new[] { body }, body, body))
            .AddNotification(new PushNotificationDefinition("alerts", 1, new[] { EventNames.ExecutionFailed }, "apns",
                new Dictionary<string, CompiledTemplate> { ["deviceToken"] = body }, body, null, null, new Dictionary<string, CompiledTemplate>(), Array.Empty<(CompiledTemplate, CompiledTemplate)>())));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("- ensemble 'alerts', sms notification #1 uses the sms provider 'twilio'; register it with AddTwilioSms(...) from the Conductor.Sdk.Twilio package", error.Message);
        Assert.Contains("- ensemble 'alerts', push notification #2 uses the push provider 'apns'; register it with AddApnsPush(...) from the Conductor.Sdk.Push package", error.Message);
    }

    [Fact]
    public void Invalid_definitions_name_the_ensemble_the_notification_and_the_field()
    {
        var url = new Uri("https://hooks.example.com/x");
        var retries = Assert.Throws<ArgumentOutOfRangeException>(() => new WebhookNotificationDefinition("orders", 1, new[] { "execution.failed" }, url, retries: 9));
        Assert.Contains("ensemble 'orders', webhook notification #2: field 'retries' must be between 0 and 5", retries.Message);
        var scheme = Assert.Throws<ArgumentException>(() => new WebhookNotificationDefinition("orders", 0, new[] { "execution.failed" }, new Uri("ftp://x.example.com/")));
        Assert.Contains("field 'url' must be an absolute http or https address", scheme.Message);
        var secret = Assert.Throws<ArgumentException>(() => new WebhookNotificationDefinition("orders", 0, new[] { "execution.failed" }, url, new[] { "plain-text-secret" }, format: Webhooks.WebhookSignatureFormat.StandardWebhooks));
        Assert.Contains("field 'secret' must be a Standard Webhooks secret", secret.Message);
        Assert.DoesNotContain("plain-text-secret", secret.Message);
        var header = Assert.Throws<ArgumentException>(() => new WebhookNotificationDefinition("orders", 0, new[] { "execution.failed" }, url, headers: new Dictionary<string, string> { ["X-Conductor-Signature"] = "x" }));
        Assert.Contains("header 'X-Conductor-Signature' in field 'headers' is set by Conductor", header.Message);
    }

    [Fact]
    public async Task With_no_configuration_deliveries_go_to_a_sqlite_file_in_the_app_data_directory()
    {
        var root = Path.Combine(Path.GetTempPath(), "conductor-root-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root, DisableDefaults = true });
            builder.Services.AddConductor();
            using (var host = builder.Build())
            {
                var store = Assert.IsType<SqliteDeliveryStore>(host.Services.GetRequiredService<IDeliveryStore>());
                Assert.Equal(Path.Combine(root, "App_Data", "conductor-deliveries.db"), store.Path);
                Assert.True(File.Exists(store.Path));
                await store.DisposeAsync();
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_host_that_reloads_configuration_from_its_content_root_keeps_the_default_store_outside_it()
    {
        // Host.CreateApplicationBuilder watches appsettings.json under the content root (reloadOnChange): a store written
        // there wakes that watcher on every write, so the default goes to the user's local application data instead.
        var root = Directory.CreateTempSubdirectory("conductor-root-").FullName;
        var application = "conductor-test-" + Guid.NewGuid().ToString("N");
        var expected = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "Conductor", application, "conductor-deliveries.db");
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root, ApplicationName = application });
            var logs = new CollectingLoggerProvider();
            builder.Logging.AddProvider(logs);
            builder.Services.AddConductor();
            using (var host = builder.Build())
            {
                var store = Assert.IsType<SqliteDeliveryStore>(host.Services.GetRequiredService<IDeliveryStore>());
                Assert.Equal(expected, store.Path);
                Assert.False(Directory.Exists(Path.Combine(root, "App_Data")));
                await host.StartAsync();
                await host.StopAsync();
                Assert.Contains(logs.Messages, m => m.Contains(expected, StringComparison.Ordinal) && m.Contains("Conductor:StorePath", StringComparison.Ordinal));
                await store.DisposeAsync();
            }

            Assert.True(File.Exists(expected));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
            Directory.Delete(Path.GetDirectoryName(expected)!, recursive: true);
        }
    }

    [Fact]
    public async Task An_existing_store_under_App_Data_is_kept_and_Conductor_StorePath_chooses_the_file()
    {
        var root = Directory.CreateTempSubdirectory("conductor-root-").FullName;
        try
        {
            // A store made by an earlier version (or a host without the watcher) stays where its deliveries are.
            var existing = Path.Combine(root, "App_Data", "conductor-deliveries.db");
            Directory.CreateDirectory(Path.GetDirectoryName(existing)!);
            await using (var made = new SqliteDeliveryStore(existing))
            {
            }

            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root, ApplicationName = "conductor-test-" + Guid.NewGuid().ToString("N") });
            builder.Services.AddConductor();
            using (var host = builder.Build())
            {
                var store = Assert.IsType<SqliteDeliveryStore>(host.Services.GetRequiredService<IDeliveryStore>());
                Assert.Equal(existing, store.Path);
                await store.DisposeAsync();
            }

            // Conductor:StorePath (here as the environment variable a container would set), relative to the content root.
            builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root, DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Conductor:StorePath"] = "data/deliveries.db" });
            builder.Services.AddConductor();
            using (var host = builder.Build())
            {
                var store = Assert.IsType<SqliteDeliveryStore>(host.Services.GetRequiredService<IDeliveryStore>());
                Assert.Equal(Path.Combine(root, "data", "deliveries.db"), store.Path);
                await store.DisposeAsync();
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task The_hosted_worker_delivers_in_the_background()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(200));
        using var host = BuildHost(b => b.AddNotification(new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionStarted }, receiver.Url(), new[] { "s" })));
        await host.StartAsync();
        try
        {
            var dispatcher = host.Services.GetRequiredService<NotificationDispatcher>();
            var receipt = await dispatcher.DispatchAsync(new ExecutionStarted(DateTimeOffset.UtcNow, "orders", "exec-9", JsonDocument.Parse("""{"userId":"u1"}""").RootElement));
            await receiver.WaitForAsync(1);
            Assert.Equal(receipt.DeliveryIds.Single(), receiver.Requests.Single().Header("X-Conductor-Delivery-Id"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Metrics_and_traces_are_published_under_Conductor_Sdk()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(503), Reply.Status(200));
        var time = new FakeTimeProvider(Pipeline.Start);
        using var host = BuildHost(b => b.AddNotification(new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, receiver.Url(), new[] { "s" }, retries: 1)), time: time);
        var meter = host.Services.GetRequiredService<ConductorTelemetry>().Meter;
        var measurements = new ConcurrentDictionary<string, double>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            // Other tests run in parallel with meters of the same name: listen to this host's meter only.
            if (ReferenceEquals(instrument.Meter, meter)) listener.EnableMeasurementEvents(instrument);
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, _, _) => measurements.AddOrUpdate(instrument.Name, value, (_, v) => v + value));
        meters.SetMeasurementEventCallback<double>((instrument, _, _, _) => measurements.AddOrUpdate(instrument.Name + ".count", 1, (_, v) => v + 1));
        meters.Start();
        var activities = new ConcurrentBag<Activity>();
        using var traces = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ConductorTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(traces);

        var dispatcher = host.Services.GetRequiredService<NotificationDispatcher>();
        var processor = host.Services.GetRequiredService<DeliveryProcessor>();
        var id = (await dispatcher.DispatchAsync(new ExecutionCompleted(time.GetUtcNow(), "orders", "exec-1", null, 5))).DeliveryIds.Single();
        await processor.RunDueAsync();
        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();

        Assert.Equal(ConductorTelemetry.Name, meter.Name);
        Assert.Equal(1, measurements["conductor.deliveries.enqueued"]);
        Assert.Equal(2, measurements["conductor.deliveries.attempted"]);
        Assert.Equal(1, measurements["conductor.deliveries.retried"]);
        Assert.Equal(1, measurements["conductor.deliveries.succeeded"]);
        Assert.False(measurements.ContainsKey("conductor.deliveries.dead_lettered"));
        Assert.Equal(2, measurements["conductor.delivery.attempt.duration.count"]);
        var attempts = activities.Where(a => a.OperationName == "conductor.delivery.attempt" && (string?)a.GetTagItem("conductor.delivery.id") == id).ToList();
        Assert.Equal(new object?[] { 503, 200 }, attempts.OrderBy(a => (int)a.GetTagItem("conductor.delivery.attempt")!).Select(a => a.GetTagItem("http.response.status_code")));
        Assert.Contains(activities, a => a.OperationName == "conductor.dispatch");
    }

    [Fact]
    public async Task Logs_never_contain_secrets_tokens_or_bodies()
    {
        await using var receiver = await Receiver.StartAsync(Reply.Status(500));
        var logs = new CollectingLoggerProvider();
        var time = new FakeTimeProvider(Pipeline.Start);
        var url = new Uri(receiver.Url(), "/hooks?token=url-token-123");
        using var host = BuildHost(
            b => b.AddNotification(new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionCompleted }, url, new[] { "super-secret-value" }, retries: 1)),
            time: time, logs: logs);
        var dispatcher = host.Services.GetRequiredService<NotificationDispatcher>();
        var processor = host.Services.GetRequiredService<DeliveryProcessor>();
        await dispatcher.DispatchAsync(new ExecutionCompleted(time.GetUtcNow(), "orders", "exec-1", JsonDocument.Parse("""{"card":"body-marker-4242"}""").RootElement, 5));
        await processor.RunDueAsync();
        time.Advance(TimeSpan.FromSeconds(1));
        await processor.RunDueAsync();

        var text = string.Join("\n", logs.Messages);
        Assert.Contains("dead-lettered", text);
        Assert.Contains("retrying", text);
        Assert.DoesNotContain("super-secret-value", text);
        Assert.DoesNotContain("url-token-123", text);
        Assert.DoesNotContain("body-marker-4242", text);
    }

    private sealed class CollectingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Collector(this);

        public void Dispose()
        {
        }

        private sealed class Collector(CollectingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Messages.Enqueue($"{logLevel}: {formatter(state, exception)} {exception}");
        }
    }
}
