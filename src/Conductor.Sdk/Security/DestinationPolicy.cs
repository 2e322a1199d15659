using System.Net;
using System.Net.Sockets;

namespace Conductor.Sdk.Security;

/// <summary>
/// Decides which addresses webhooks may connect to. By default loopback, private (RFC 1918), link-local,
/// CGNAT (100.64/10), IPv6 unique-local, unspecified/multicast and cloud-metadata addresses are refused;
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
        (IPNetwork.Parse("fc00::/7"), "an IPv6 unique-local network"),
        (IPNetwork.Parse("fe80::/10"), "IPv6 link-local"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
        (IPNetwork.Parse("fd00:ec2::254/128"), "the cloud metadata endpoint"),
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
        var candidate = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var allowed in AllowedNetworks)
        {
            if (allowed.Contains(candidate)) return null;
        }

        foreach (var (network, reason) in Refused)
        {
            if (network.BaseAddress.AddressFamily == candidate.AddressFamily && network.Contains(candidate))
            {
                var cidr = candidate.AddressFamily == AddressFamily.InterNetworkV6 ? "/128" : "/32";
                return $"refused to connect to {candidate}: it is {reason}, which webhooks may not reach by default (SSRF protection); " +
                       $"to allow it, add \"{candidate}{cidr}\" (or its network) to AllowedNetworks";
            }
        }

        return null;
    }
}
