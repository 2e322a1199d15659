using System.Net;
using System.Net.Sockets;

namespace Conductor.Sdk.Security;

/// <summary>
/// Decides which addresses webhooks may connect to. By default loopback, private (RFC 1918), link-local,
/// CGNAT (100.64/10), IPv6 unique-local, unspecified/multicast and cloud-metadata addresses are refused, also when an
/// IPv6 address carries one of them (IPv4-mapped, NAT64, IPv4-compatible, 6to4);
/// networks listed in <see cref="AllowedNetworks"/> (CIDR) are allowed explicitly. The check runs on the
/// resolved address at connect time, so a DNS name that rebinds to a private address is still refused.
/// </summary>
public sealed class DestinationPolicy
{
    private static readonly (IPNetwork Network, string Reason)[] Refused =
    {
        (IPNetwork.Parse("0.0.0.0/8"), "an unspecified address"),
        (IPNetwork.Parse("10.0.0.0/8"), "a private network (RFC 1918)"),
        (IPNetwork.Parse("100.64.0.0/10"), "carrier-grade NAT space (RFC 6598)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local, including cloud metadata endpoints (169.254.169.254)"),
        (IPNetwork.Parse("172.16.0.0/12"), "a private network (RFC 1918)"),
        (IPNetwork.Parse("192.0.0.0/24"), "IETF protocol assignments"),
        (IPNetwork.Parse("192.168.0.0/16"), "a private network (RFC 1918)"),
        (IPNetwork.Parse("198.18.0.0/15"), "benchmarking space"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved space"),
        (IPNetwork.Parse("::/128"), "an unspecified address"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("fd00:ec2::254/128"), "the cloud metadata endpoint"),
        (IPNetwork.Parse("fc00::/7"), "an IPv6 unique-local network"),
        (IPNetwork.Parse("fe80::/10"), "IPv6 link-local"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
        (IPNetwork.Parse("64:ff9b:1::/48"), "a local-use NAT64 network (RFC 8215)"),
    };

    /// <summary>Networks that are allowed even though they would be refused by default.</summary>
    public IReadOnlyList<IPNetwork> AllowedNetworks { get; }

    /// <summary>Creates a policy; <paramref name="allowedNetworks"/> are CIDR strings such as <c>127.0.0.1/32</c>.</summary>
    /// <exception cref="FormatException">An entry is not CIDR notation; the message names it.</exception>
    public DestinationPolicy(IEnumerable<string>? allowedNetworks = null)
    {
        var list = new List<IPNetwork>();
        foreach (var entry in allowedNetworks ?? Array.Empty<string>())
        {
            if (!IPNetwork.TryParse(entry.Trim(), out var network))
            {
                throw new FormatException($"AllowedNetworks entry '{entry}' is not CIDR notation; write an address and prefix length, such as 127.0.0.1/32 or 10.0.0.0/8.");
            }

            list.Add(network);
        }

        AllowedNetworks = list;
    }

    /// <summary>Null when <paramref name="address"/> may be connected to; otherwise why it is refused and how to allow it.</summary>
    public string? Check(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        // An IPv6 address that carries an IPv4 one (mapped, NAT64, IPv4-compatible, 6to4) is judged by the IPv4 address
        // it reaches: 64:ff9b::a00:1 is 10.0.0.1 through a NAT64 gateway.
        var embedded = EmbeddedIPv4(address);
        var candidate = embedded ?? address;
        foreach (var allowed in AllowedNetworks)
        {
            if (allowed.Contains(candidate) || allowed.Contains(address)) return null;
        }

        foreach (var (network, reason) in Refused)
        {
            if (network.BaseAddress.AddressFamily == candidate.AddressFamily && network.Contains(candidate))
            {
                var cidr = candidate.AddressFamily == AddressFamily.InterNetworkV6 ? "/128" : "/32";
                var what = embedded is null || address.IsIPv4MappedToIPv6 ? $"{candidate}: it is" : $"{address}: it reaches {candidate}, which is";
                return $"refused to connect to {what} {reason}, which webhooks may not reach by default (SSRF protection); " +
                       $"to allow it, add \"{candidate}{cidr}\" (or its network) to AllowedNetworks";
            }
        }

        return null;
    }

    /// <summary>The IPv4 address an IPv6 one carries (IPv4-mapped, NAT64 64:ff9b::/96, IPv4-compatible ::/96, 6to4 2002::/16), or null.</summary>
    private static IPAddress? EmbeddedIPv4(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return null;
        if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        // 64:ff9b::/96, the well-known NAT64 prefix: the last 32 bits are the IPv4 address.
        if (bytes[..12].SequenceEqual(stackalloc byte[] { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 })) return new IPAddress(bytes[12..]);
        // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1 themselves.
        if (bytes[..12].IndexOfAnyExcept((byte)0) < 0 && (bytes[12] | bytes[13] | bytes[14]) + (bytes[15] > 1 ? 1 : 0) != 0) return new IPAddress(bytes[12..]);
        // 2002:AABB:CCDD::/48, 6to4: bits 16-47 are the IPv4 address of the relay target.
        if (bytes[0] == 0x20 && bytes[1] == 0x02) return new IPAddress(bytes.Slice(2, 4));
        return null;
    }
}
