using System.Text.RegularExpressions;

namespace Conductor.Cli.Rendering;

/// <summary>
/// Keeps secrets out of a preview: values that feed secret fields, values of variables whose names say they are
/// secret (…SECRET, …TOKEN, …PASSWORD, …API_KEY, …), URL passwords and sensitive query parameters are all printed
/// as <c>****</c>.
/// </summary>
internal sealed partial class SecretMasker
{
    /// <summary>What a masked value prints as.</summary>
    public const string Mask = "****";

    // Shorter values are masked where they are printed as a field, but not replaced inside other text, where a
    // two-letter "secret" would blank out every occurrence of those letters.
    private const int MinimumReplacedLength = 4;

    private readonly List<string> _values = new();

    /// <summary>Whether a variable's name says it holds a secret.</summary>
    public static bool IsSensitiveName(string name) => SensitiveName().IsMatch(name);

    /// <summary>Whether a query parameter's name says it carries a credential.</summary>
    public static bool IsSensitiveParameter(string name) => SensitiveParameter().IsMatch(name);

    /// <summary>Masks <paramref name="value"/> wherever it appears from now on.</summary>
    public void Add(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length < MinimumReplacedLength || _values.Contains(value)) return;
        _values.Add(value);
        _values.Sort((a, b) => b.Length.CompareTo(a.Length)); // longest first, so a secret containing another is masked whole
    }

    /// <summary>The text with every known secret replaced.</summary>
    public string Apply(string text)
    {
        foreach (var value in _values) text = text.Replace(value, Mask, StringComparison.Ordinal);
        return text;
    }

    /// <summary>A URL with its password and sensitive query values masked, then every known secret.</summary>
    public string ApplyToUrl(string url)
    {
        var masked = UserInfo().Replace(url, m => m.Groups["user"].Value + ":" + Mask + "@");
        masked = QueryParameter().Replace(masked, m => IsSensitiveParameter(Uri.UnescapeDataString(m.Groups["name"].Value))
            ? m.Groups["lead"].Value + m.Groups["name"].Value + "=" + Mask
            : m.Value);
        return Apply(masked);
    }

    [GeneratedRegex("SECRET|TOKEN|PASSWORD|PASSWD|PWD|API[_-]?KEY|PRIVATE|CREDENTIAL|AUTH|SIGNING|ACCESS[_-]?KEY|WHSEC", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SensitiveName();

    [GeneratedRegex("token|key|secret|sig|auth|pass|pwd|code|credential|access", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SensitiveParameter();

    [GeneratedRegex(@"(?<=^[a-zA-Z][a-zA-Z0-9+.-]*://)(?<user>[^/@:?#]*):[^/@?#]*@", RegexOptions.CultureInvariant)]
    private static partial Regex UserInfo();

    [GeneratedRegex(@"(?<lead>[?&])(?<name>[^=&#]+)=(?<value>[^&#]*)", RegexOptions.CultureInvariant)]
    private static partial Regex QueryParameter();
}
