using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>
/// An application with the dashboard mapped, as a user writes it: AddConductor on a SQLite file, antiforgery, one
/// webhook notification per test to a real receiver, Kestrel on loopback, the Development environment.
/// </summary>
public sealed class DashboardApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempDirectory _root;

    private DashboardApp(WebApplication app, TempDirectory root)
    {
        _app = app;
        _root = root;
    }

    public IServiceProvider Services => _app.Services;

    public Uri BaseAddress => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

    public static async Task<DashboardApp> StartAsync(Uri receiver, Action<Conductor.Sdk.AspNetCore.ConductorDashboardOptions>? configure = null, Action<WebApplicationBuilder>? services = null)
    {
        var root = new TempDirectory("conductor-dashboard");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development, ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddAntiforgery();
        builder.Services.AddConductor(o => o.AllowedNetworks.Add("127.0.0.1/32"))
            .UseSqlite(root.File("deliveries.db"))
            .AddNotification(new WebhookNotificationDefinition("orders", 0, new[] { EventNames.ExecutionFailed, EventNames.ExecutionCompleted }, receiver, new[] { "dashboard-secret" }, retries: 0));
        services?.Invoke(builder);
        var app = builder.Build();
        app.MapConductorDashboard("/conductor", configure ?? (o => o.AllowAnonymousInDevelopment = true));
        await app.StartAsync();
        return new DashboardApp(app, root);
    }

    public ValueTask<DispatchReceipt> FailAsync(string executionId) =>
        _app.Services.GetRequiredService<NotificationDispatcher>().DispatchAsync(new ExecutionFailed(DateTimeOffset.UtcNow, "orders", executionId, new ErrorInfo("card declined", "PaymentError"), 12));

    public async Task<DeliveryRecord> WaitForStatusAsync(string id, DeliveryStatus status)
    {
        var store = _app.Services.GetRequiredService<IDeliveryStore>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var record = await store.GetAsync(id);
            if (record?.Status == status) return record;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"delivery {id} is {record?.Status}, not {status}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _root.Dispose();
    }
}
