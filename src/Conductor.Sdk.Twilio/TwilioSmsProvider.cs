using System.Net;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Security;
using Conductor.Sdk.Sms;
using Conductor.Sdk.Webhooks;
using Microsoft.Extensions.Options;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Conductor.Sdk.Twilio;

/// <summary>
/// <c>provider: twilio</c>, on the official Twilio SDK: <c>POST /2010-04-01/Accounts/{AccountSid}/Messages.json</c>
/// with Basic auth (account SID and auth token) and the form fields To, From or MessagingServiceSid, and Body, sent to
/// <see cref="TwilioSmsOptions.BaseAddress"/> through Conductor's outgoing HTTP client (SSRF guard included).
/// Twilio error 20429 (too many requests), HTTP 429, 5xx and connection errors are retried, honouring Retry-After;
/// every other error (21211 invalid To, 21610 unsubscribed recipient, 21614 not a mobile number, 21408 region not
/// enabled, 21606 sender not able to send, 20003 authentication, any other 4xx) is permanent. The error kept with the
/// delivery names the Twilio code and message, never the auth token.
/// </summary>
public sealed class TwilioSmsProvider(IHttpClientFactory clients, IOptions<TwilioSmsOptions> options, TimeProvider time) : ISmsProvider
{
    /// <summary>The <c>config:</c> key of an <c>operation: sms</c> step that overrides <see cref="TwilioSmsOptions.AccountSid"/>.</summary>
    public const string AccountSidSetting = "accountSid";

    /// <summary>The <c>config:</c> key that overrides <see cref="TwilioSmsOptions.AuthToken"/>.</summary>
    public const string AuthTokenSetting = "authToken";

    /// <summary>The <c>config:</c> key that overrides <see cref="TwilioSmsOptions.MessagingServiceSid"/>.</summary>
    public const string MessagingServiceSidSetting = "messagingServiceSid";

    /// <summary>Twilio's "Too Many Requests" error code.</summary>
    private const int TooManyRequests = 20429;

    /// <summary>Errors that no retry can fix, whatever HTTP status came with them.</summary>
    private static readonly HashSet<int> PermanentCodes = new() { 20003, 21211, 21408, 21606, 21610, 21614 };

    /// <summary>Errors that say the recipient cannot receive this message (bad number, unsubscribed, landline).</summary>
    private static readonly HashSet<int> RecipientCodes = new() { 21211, 21610, 21614 };

    private HttpClient? _http;

    /// <inheritdoc />
    public string Name => "twilio";

    /// <inheritdoc />
    /// <remarks>True when a messaging service (from the options or the message's settings) or a default sender is configured.</remarks>
    public bool CanSendWithoutSender(SmsMessage message)
    {
        var settings = options.Value;
        return !string.IsNullOrEmpty(Setting(message, MessagingServiceSidSetting) ?? settings.MessagingServiceSid) || !string.IsNullOrEmpty(settings.From);
    }

    /// <inheritdoc />
    public async ValueTask<AttemptResult> SendAsync(SmsMessage message, string deliveryId, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var accountSid = Setting(message, AccountSidSetting) ?? settings.AccountSid;
        var authToken = Setting(message, AuthTokenSetting) ?? settings.AuthToken;
        var service = Setting(message, MessagingServiceSidSetting) ?? settings.MessagingServiceSid;
        var from = message.From.Length > 0 ? message.From : settings.From;
        if (string.IsNullOrEmpty(accountSid) || string.IsNullOrEmpty(authToken))
        {
            return Refused("twilio: no credentials; set TwilioSmsOptions.AccountSid and AuthToken (or the step's accountSid and authToken)");
        }

        if (string.IsNullOrEmpty(service) && string.IsNullOrEmpty(from))
        {
            return Refused("twilio: no sender; set the notification's 'from:', TwilioSmsOptions.From or a MessagingServiceSid");
        }

        var create = new CreateMessageOptions(new PhoneNumber(message.To)) { PathAccountSid = accountSid, Body = message.Body };
        // A messaging service chooses the sender from its pool: it is sent instead of From.
        if (!string.IsNullOrEmpty(service)) create.MessagingServiceSid = service;
        else create.From = new PhoneNumber(from);

        var transport = new TwilioSdkHttpClient(_http ??= clients.CreateClient(WebhookChannel.HttpClientName), settings.BaseAddress, cancellationToken);
        var client = new TwilioRestClient(accountSid, authToken, accountSid, httpClient: transport);
        try
        {
            var created = await MessageResource.CreateAsync(create, client).ConfigureAwait(false);
            var status = (int?)transport.LastResponse?.StatusCode;
            return created?.Sid is { Length: > 0 }
                ? AttemptResult.Delivered(status)
                // Accepted but unreadable: the text may already be on its way, so a retry could send it twice.
                : new AttemptResult(AttemptOutcome.Permanent, status, AttemptErrorKind.Provider, $"twilio: HTTP {status} without a message SID (the message may have been sent; replay the delivery if it was not); check that BaseAddress points at the Twilio REST API");
        }
        catch (ApiException ex)
        {
            var status = ex.Status != 0 ? ex.Status : (int?)transport.LastResponse?.StatusCode;
            var text = ex.Code != 0 ? $"twilio: error {ex.Code} (HTTP {status}): {ex.Message}" : $"twilio: HTTP {status}: {ex.Message}";
            if (!string.IsNullOrEmpty(ex.MoreInfo)) text += " " + ex.MoreInfo;
            return Failed(ex.Code, status, text, transport, authToken);
        }
        catch (ApiStandardException ex)
        {
            var status = ex.Status != 0 ? ex.Status : (int?)transport.LastResponse?.StatusCode;
            return Failed(ex.Code, status, $"twilio: error {ex.Code} (HTTP {status}): {ex.Title} {ex.Detail}".TrimEnd(), transport, authToken);
        }
        catch (ApiConnectionException ex)
        {
            // The SDK wraps every transport exception, the attempt's cancellation (timeout, shutdown) included; that
            // one goes back to the delivery worker, which records it as a timeout.
            cancellationToken.ThrowIfCancellationRequested();
            if (Find<DestinationRefusedException>(ex) is { } refused)
            {
                return new AttemptResult(AttemptOutcome.Permanent, null, AttemptErrorKind.DestinationRefused, "twilio: " + refused.Message);
            }

            var cause = Find<HttpRequestException>(ex)?.Message ?? ex.InnerException?.Message ?? ex.Message;
            return new AttemptResult(AttemptOutcome.Retry, null, AttemptErrorKind.Connection,
                Redact($"twilio: the request to {settings.BaseAddress.GetLeftPart(UriPartial.Authority)} failed: {cause}", authToken));
        }
        catch (TwilioException ex)
        {
            // A 2xx that cannot be read may still have sent the text: do not send it again on our own.
            var status = (int?)transport.LastResponse?.StatusCode;
            var accepted = status is >= 200 and < 300;
            return new AttemptResult(accepted ? AttemptOutcome.Permanent : AttemptOutcome.Retry, status, AttemptErrorKind.Provider,
                Redact(SingleLine("twilio: unexpected reply" + (accepted ? " to an accepted request (the message may have been sent; replay the delivery if it was not)" : "") + ": " + ex.Message), authToken));
        }
    }

    private AttemptResult Failed(int code, int? status, string text, TwilioSdkHttpClient transport, string authToken)
    {
        var outcome = code == TooManyRequests ? AttemptOutcome.Retry
            : PermanentCodes.Contains(code) ? AttemptOutcome.Permanent
            : status is int s ? RetrySchedule.Classify((HttpStatusCode)s)
            : AttemptOutcome.Retry;
        if (outcome == AttemptOutcome.Delivered) outcome = AttemptOutcome.Retry; // an error with a 2xx/3xx status: unexpected, try again
        TimeSpan? retryAfter = null;
        if (outcome == AttemptOutcome.Retry && transport.LastResponse?.Headers?.RetryAfter is { } header)
        {
            retryAfter = header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null);
        }

        var kind = RecipientCodes.Contains(code) ? AttemptErrorKind.InvalidRecipient : AttemptErrorKind.Provider;
        return new AttemptResult(outcome, status, kind, Redact(SingleLine(text), authToken), retryAfter);
    }

    private static AttemptResult Refused(string error) => new(AttemptOutcome.Permanent, null, AttemptErrorKind.Provider, error);

    /// <summary>A per-message setting (exact key first, then ignoring case), or null when absent or empty.</summary>
    private static string? Setting(SmsMessage message, string key)
    {
        if (message.Settings is not { } settings) return null;
        if (settings.TryGetValue(key, out var value)) return string.IsNullOrEmpty(value) ? null : value;
        foreach (var (name, candidate) in settings)
        {
            if (string.Equals(name, key, StringComparison.OrdinalIgnoreCase)) return string.IsNullOrEmpty(candidate) ? null : candidate;
        }

        return null;
    }

    /// <summary>A server may echo what it was sent; the token never reaches the stored error.</summary>
    private static string Redact(string text, string authToken) =>
        authToken.Length == 0 ? text : text.Replace(authToken, "[redacted]", StringComparison.Ordinal);

    private static string SingleLine(string text)
    {
        var line = string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length <= 500 ? line : line[..500] + "…";
    }

    private static T? Find<T>(Exception exception) where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T match) return match;
        }

        return null;
    }
}
