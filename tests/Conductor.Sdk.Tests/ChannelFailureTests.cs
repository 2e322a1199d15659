using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Events;
using Conductor.Sdk.Notifications;
using Conductor.Sdk.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Conductor.Sdk.Tests;

/// <summary>A channel that throws (a bug, or a user hook inside it) still ends its deliveries: retried on the schedule, then dead-lettered.</summary>
public sealed class ChannelFailureTests
{
    private sealed record PagerNotification(string Ensemble) : NotificationDefinition(Ensemble, 0, new[] { EventNames.ExecutionCompleted })
    {
        public override string Channel => "pager";
        public override int Retries => 1;
    }

    private sealed class ThrowingChannel : INotificationChannel
    {
        public int Calls;
        public string Channel => "pager";
        public string EndpointOf(NotificationDefinition notification) => "pager:main";

        public ValueTask<AttemptResult> SendAsync(DeliveryAttempt attempt, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            throw new InvalidOperationException("api key pg-secret-123 rejected");
        }
    }

    [Fact]
    public async Task A_throwing_channel_is_retried_once_then_dead_lettered_and_its_message_is_not_stored()
    {
        var channel = new ThrowingChannel();
        await using var pipeline = Pipeline.Create(new[] { new PagerNotification("orders") }, services: s => s.AddSingleton<INotificationChannel>(channel));

        var id = (await pipeline.CompletedAsync()).DeliveryIds.Single();
        await pipeline.Processor.RunDueAsync();
        var first = await pipeline.RecordAsync(id);
        Assert.Equal((DeliveryStatus.Pending, 1, Pipeline.Start + TimeSpan.FromSeconds(1)), (first.Status, first.Attempts, first.DueAt));
        Assert.Equal("the 'pager' channel failed with System.InvalidOperationException (see the logs)", first.LastError);

        pipeline.Time.Advance(TimeSpan.FromSeconds(1));
        await pipeline.Processor.RunDueAsync();
        pipeline.Time.Advance(TimeSpan.FromMinutes(10));
        await pipeline.Processor.RunDueAsync();

        var last = await pipeline.RecordAsync(id);
        Assert.Equal((DeliveryStatus.DeadLettered, 2), (last.Status, last.Attempts));
        Assert.Equal(2, channel.Calls);
        Assert.DoesNotContain("pg-secret-123", last.LastError);
    }
}
