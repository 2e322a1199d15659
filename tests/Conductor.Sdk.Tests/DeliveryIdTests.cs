using Conductor.Sdk.Delivery;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Conductor.Sdk.Tests;

public class DeliveryIdTests
{
    [Fact]
    public void Ids_are_version_7_uuids_carrying_the_clock_in_milliseconds()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 1, 15, 10, 30, 0, 123, TimeSpan.Zero));
        var id = DeliveryRecord.NewId(time);

        Assert.Matches("^dlv_[0-9a-f]{32}$", id);
        var uuid = Guid.ParseExact(id["dlv_".Length..], "N");
        Assert.Equal(7, uuid.Version);
        Assert.Equal(0b10, uuid.Variant >> 2);
        // The first 48 bits are the Unix time in milliseconds, big-endian: the id's first 12 hex digits.
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds(), Convert.ToInt64(id.Substring(4, 12), 16));
    }

    [Fact]
    public async Task Ids_are_unique_across_threads_and_ordered_by_millisecond()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddYears(55));
        var batches = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Enumerable.Range(0, 50_000).Select(_ => DeliveryRecord.NewId(time)).ToArray())));
        var all = batches.SelectMany(b => b).ToArray();
        Assert.Equal(all.Length, all.Distinct(StringComparer.Ordinal).Count());
        // The 74 random bits really vary: every hex position after the version digit takes many values.
        for (var position = 4 + 13; position < 36; position++)
        {
            if (position == 4 + 16) continue; // the variant digit has 4 values
            Assert.True(all.Select(i => i[position]).Distinct().Count() >= 15, $"hex digit {position} barely varies");
        }

        var earlier = DeliveryRecord.NewId(time);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(string.CompareOrdinal(earlier, DeliveryRecord.NewId(time)) < 0);
    }

    [Fact]
    public void A_missing_clock_is_named()
    {
        Assert.Equal("time", Assert.Throws<ArgumentNullException>(() => DeliveryRecord.NewId(null!)).ParamName);
    }
}
