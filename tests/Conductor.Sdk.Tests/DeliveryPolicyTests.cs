using System.Net;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Security;
using Xunit;

namespace Conductor.Sdk.Tests;

public sealed class DeliveryPolicyTests
{
    [Theory]
    [InlineData(200, AttemptOutcome.Delivered)]
    [InlineData(204, AttemptOutcome.Delivered)]
    [InlineData(302, AttemptOutcome.Delivered)]
    [InlineData(400, AttemptOutcome.Permanent)]
    [InlineData(401, AttemptOutcome.Permanent)]
    [InlineData(404, AttemptOutcome.Permanent)]
    [InlineData(408, AttemptOutcome.Retry)]
    [InlineData(429, AttemptOutcome.Retry)]
    [InlineData(500, AttemptOutcome.Retry)]
    [InlineData(503, AttemptOutcome.Retry)]
    public void Statuses_are_classified_as_the_design_says(int status, AttemptOutcome expected) =>
        Assert.Equal(expected, RetrySchedule.Classify((HttpStatusCode)status));

    [Fact]
    public void The_schedule_is_1s_5s_30s_2min_5min_up_to_the_configured_retries()
    {
        var delays = Enumerable.Range(1, 6).Select(attempt => RetrySchedule.NextDelay(attempt, retries: 5)).ToList();
        Assert.Equal(new TimeSpan?[] { TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5), null }, delays);
        Assert.Equal(TimeSpan.FromSeconds(5), RetrySchedule.NextDelay(2, retries: 3));
        Assert.Null(RetrySchedule.NextDelay(4, retries: 3));
        Assert.Null(RetrySchedule.NextDelay(1, retries: 0));
    }

    [Fact]
    public void Retry_after_is_honoured_and_capped()
    {
        Assert.Equal(TimeSpan.FromSeconds(90), RetrySchedule.NextDelay(1, 3, TimeSpan.FromSeconds(90)));
        Assert.Equal(TimeSpan.FromMinutes(5), RetrySchedule.NextDelay(1, 3, TimeSpan.FromHours(2)));
        // A Retry-After shorter than the schedule does not hurry the retry.
        Assert.Equal(TimeSpan.FromSeconds(30), RetrySchedule.NextDelay(3, 3, TimeSpan.FromSeconds(2)));

        var now = new DateTimeOffset(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(120), RetrySchedule.ParseRetryAfter("120", now));
        Assert.Equal(TimeSpan.FromSeconds(45), RetrySchedule.ParseRetryAfter("Mon, 15 Jan 2024 10:30:45 GMT", now));
        Assert.Null(RetrySchedule.ParseRetryAfter("soon", now));
    }

    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("10.1.2.3", "private network")]
    [InlineData("172.20.0.1", "private network")]
    [InlineData("192.168.1.10", "private network")]
    [InlineData("169.254.169.254", "cloud metadata")]
    [InlineData("100.100.100.200", "carrier-grade NAT")]
    [InlineData("::1", "loopback")]
    [InlineData("fd12:3456::1", "unique-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("::ffff:10.0.0.1", "private network")]
    [InlineData("0.0.0.0", "unspecified")]
    public void Internal_destinations_are_refused_with_how_to_allow_them(string address, string reason)
    {
        var message = new DestinationPolicy().Check(IPAddress.Parse(address));
        Assert.NotNull(message);
        Assert.Contains(reason, message);
        Assert.Contains("AllowedNetworks", message);
    }

    [Theory]
    [InlineData("93.184.216.34")]
    [InlineData("2606:2800:220:1:248:1893:25c8:1946")]
    [InlineData("172.32.0.1")]
    public void Public_destinations_are_allowed(string address) =>
        Assert.Null(new DestinationPolicy().Check(IPAddress.Parse(address)));

    [Fact]
    public void The_allow_list_opts_networks_in()
    {
        var policy = new DestinationPolicy(new[] { "127.0.0.1/32", "10.0.0.0/8" });
        Assert.Null(policy.Check(IPAddress.Loopback));
        Assert.Null(policy.Check(IPAddress.Parse("10.9.9.9")));
        Assert.NotNull(policy.Check(IPAddress.Parse("127.0.0.2")));
        var error = Assert.Throws<FormatException>(() => new DestinationPolicy(new[] { "localhost" }));
        Assert.Contains("'localhost'", error.Message);
    }
}
