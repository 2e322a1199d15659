using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace Conductor.Sdk.Tests.Infrastructure;

/// <summary>The runtime wired through <c>AddConductor</c>, on a fake clock, driven step by step by the test.</summary>
public sealed class Pipeline : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);

    private Pipeline(ServiceProvider services, FakeTimeProvider time)
    {
        Services = services;
        Time = time;
    }

    public ServiceProvider Services { get; }
    public FakeTimeProvider Time { get; }
    public NotificationDispatcher Dispatcher => Services.GetRequiredService<NotificationDispatcher>();
    public DeliveryProcessor Processor => Services.GetRequiredService<DeliveryProcessor>();
    public IDeliveryStore Store => Services.GetRequiredService<IDeliveryStore>();

    public static Pipeline Create(
        IEnumerable<NotificationDefinition> notifications,
        Action<ConductorOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        bool allowLoopback = true,
        Func<Conductor.Sdk.Delivery.IDeliveryStore>? store = null)
    {
        var time = new FakeTimeProvider(Start);
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(time);
        services?.Invoke(collection);
        var builder = collection.AddConductor(options =>
        {
            if (allowLoopback)
            {
                options.AllowedNetworks.Add("127.0.0.1/32");
                options.AllowedNetworks.Add("::1/128");
            }

            configure?.Invoke(options);
        }).UseInMemoryStore();
        foreach (var notification in notifications) builder.AddNotification(notification);
        if (store is not null)
        {
            collection.RemoveAll<Conductor.Sdk.Delivery.IDeliveryStore>();
            collection.AddSingleton(_ => store());
        }

        return new Pipeline(collection.BuildServiceProvider(validateScopes: true), time);
    }

    public ValueTask<DispatchReceipt> CompletedAsync(string ensemble = "orders", string id = "exec-1") =>
        Dispatcher.DispatchAsync(new ExecutionCompleted(Time.GetUtcNow(), ensemble, id, null, 42));

    public ValueTask<DispatchReceipt> FailedAsync(string ensemble = "orders", string id = "exec-1") =>
        Dispatcher.DispatchAsync(new ExecutionFailed(Time.GetUtcNow(), ensemble, id, new ErrorInfo("boom", "System.Exception"), 42));

    public async Task<DeliveryRecord> RecordAsync(string id) => (await Store.GetAsync(id))!;

    public async ValueTask DisposeAsync() => await Services.DisposeAsync();
}
