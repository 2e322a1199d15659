using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using Twilio.Constant;
using TwilioHttpClient = global::Twilio.Http.HttpClient;
using TwilioRequest = global::Twilio.Http.Request;
using TwilioResponse = global::Twilio.Http.Response;

namespace Conductor.Sdk.Twilio;

/// <summary>
/// The transport the Twilio SDK sends through: the SDK builds the request (path, form fields, credentials), this class
/// moves it onto the configured base address and sends it with Conductor's outgoing <see cref="HttpClient"/>, so the
/// SSRF guard and the attempt's cancellation apply. One instance serves one attempt; it keeps the last response so
/// that the caller can read headers (Retry-After) and the status that the SDK's exceptions do not carry.
/// </summary>
internal sealed class TwilioSdkHttpClient(HttpClient http, Uri baseAddress, CancellationToken cancellationToken) : TwilioHttpClient
{
    private static readonly string UserAgent = "conductor-sdk twilio-csharp/" +
        (typeof(TwilioHttpClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown");

    /// <summary>The largest reply read.</summary>
    internal const int MaxReplyBytes = 1024 * 1024;

    /// <summary>Only the asynchronous path is used; the synchronous one blocks on it for completeness.</summary>
    public override TwilioResponse MakeRequest(TwilioRequest request) => MakeRequestAsync(request).GetAwaiter().GetResult();

    public override async Task<TwilioResponse> MakeRequestAsync(TwilioRequest request)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method.ToString()), Rebase(request.ConstructUrl(), baseAddress));
        if (request.Username is not null && request.Password is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Basic", Authentication(request.Username, request.Password));
        }

        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        var agent = request.UserAgentExtensions is { Length: > 0 } extensions ? UserAgent + " " + string.Join(' ', extensions) : UserAgent;
        message.Headers.TryAddWithoutValidation("User-Agent", agent);
        foreach (var header in request.HeaderParams) message.Headers.TryAddWithoutValidation(header.Key, header.Value);
        if (!Equals(request.Method, global::Twilio.Http.HttpMethod.Get))
        {
            message.Content = Equals(request.ContentType, EnumConstants.ContentTypeEnum.JSON)
                ? new StringContent(request.Body ?? string.Empty, Encoding.UTF8, "application/json")
                : new FormUrlEncodedContent(request.PostParams);
        }

        LastRequest = request;
        LastResponse = null;
        using var reply = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var content = await ReadLimitedAsync(reply.Content, cancellationToken).ConfigureAwait(false);
        var response = new TwilioResponse(reply.StatusCode, content, reply.Headers);
        LastResponse = response;
        return response;
    }

    /// <summary>
    /// The reply as text, up to <see cref="MaxReplyBytes"/>: a Message resource or an error is a few kilobytes, and a
    /// misconfigured <c>BaseAddress</c> must not make an attempt buffer whatever that server sends.
    /// </summary>
    private static async Task<string> ReadLimitedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > MaxReplyBytes) throw new HttpRequestException($"the reply is larger than {MaxReplyBytes} bytes");
        using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxReplyBytes) throw new HttpRequestException($"the reply is larger than {MaxReplyBytes} bytes");
            buffer.Write(chunk, 0, read);
        }

        // The Twilio API answers in UTF-8 JSON.
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>
    /// The SDK's URL with the scheme, host and port of <paramref name="baseAddress"/>; the base address's path, if
    /// any, is put in front of the SDK's path (a reverse proxy under <c>/twilio/</c>, say).
    /// </summary>
    internal static Uri Rebase(Uri url, Uri baseAddress)
    {
        var prefix = baseAddress.AbsolutePath.TrimEnd('/');
        return new UriBuilder(url)
        {
            Scheme = baseAddress.Scheme,
            Host = baseAddress.Host,
            Port = baseAddress.Port,
            Path = prefix + url.AbsolutePath,
        }.Uri;
    }
}
