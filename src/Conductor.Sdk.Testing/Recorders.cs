using System.Globalization;
using System.Net.Sockets;
using Conductor.Sdk.Channels;
using Conductor.Sdk.Delivery;
using Conductor.Sdk.Email;
using Conductor.Sdk.Push;
using Conductor.Sdk.Sms;

namespace Conductor.Sdk.Testing;

/// <summary>
/// The webhook channel's network: records each request and answers it as the receiver's script says. The real
/// channel built and signed the request and reads the answer, so classification, retries and holds are production's.
/// </summary>
internal sealed class ScriptedReceiver(ConductorTestKit kit, IDeliveryStore store) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? Array.Empty<byte>() : await request.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers) headers[name] = string.Join(",", values);
        if (request.Content is not null)
        {
            foreach (var (name, values) in request.Content.Headers) headers[name] = string.Join(",", values);
        }

        var deliveryId = headers.GetValueOrDefault("X-Conductor-Delivery-Id") ?? headers.GetValueOrDefault("webhook-id") ?? string.Empty;
        var delivery = await store.GetAsync(deliveryId, cancellationToken).ConfigureAwait(false);
        var attempt = int.TryParse(headers.GetValueOrDefault("X-Conductor-Delivery-Attempt"), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : (delivery?.Attempts ?? 0) + 1;
        var reply = kit.Webhooks.NextReply(request.RequestUri!);
        kit.Record(kit.Webhooks, new CapturedWebhook(delivery?.Ensemble ?? string.Empty, headers.GetValueOrDefault("X-Conductor-Event") ?? delivery?.Event ?? string.Empty,
            deliveryId, attempt, kit.Time.GetUtcNow(), request.RequestUri!, headers, body, reply));
        if (reply.Refuses)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (a scripted reply of the Conductor test kit)", new SocketException((int)SocketError.ConnectionRefused));
        }

        if (reply.TimesOut)
        {
            // No answer: the attempt's timeout, on the kit's clock, cancels this. The hang ends the moment the token is
            // cancelled (inside the clock's Advance), not when this continuation gets to run, so that the kit waits for
            // the attempt's outcome instead of taking it for still hanging.
            var hanging = 1;
            void End()
            {
                if (Interlocked.Exchange(ref hanging, 0) == 1) kit.HangEnded();
            }

            kit.HangStarted();
            using (cancellationToken.Register(End))
            {
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    End();
                }
            }
        }

        return reply.ToResponse(request);
    }
}

/// <summary>Stands in for provider names: records each message, with its delivery's ensemble, event and attempt, and accepts it.</summary>
internal abstract class Recorder(string name, ConductorTestKit kit, IDeliveryStore store)
{
    public string Name => name;

    protected ConductorTestKit Kit => kit;

    protected async ValueTask<AttemptResult> CaptureAsync<T>(SendLog<T> log, string deliveryId, Func<string, string, int, DateTimeOffset, T> create, CancellationToken cancellationToken)
        where T : CapturedSend
    {
        var delivery = await store.GetAsync(deliveryId, cancellationToken).ConfigureAwait(false);
        kit.Record(log, create(delivery?.Ensemble ?? string.Empty, delivery?.Event ?? string.Empty, (delivery?.Attempts ?? 0) + 1, kit.Time.GetUtcNow()));
        return AttemptResult.Delivered(null);
    }
}

/// <summary>Stands in for one email provider name.</summary>
internal sealed class EmailRecorder(string name, ConductorTestKit kit, IDeliveryStore store) : Recorder(name, kit, store), IEmailProvider
{
    public ValueTask<AttemptResult> SendAsync(EmailMessage message, string deliveryId, CancellationToken cancellationToken) =>
        CaptureAsync(Kit.Emails, deliveryId, (ensemble, @event, attempt, at) => new CapturedEmail(ensemble, @event, deliveryId, attempt, at, Name, message), cancellationToken);
}

/// <summary>Stands in for one SMS provider name.</summary>
internal sealed class SmsRecorder(string name, ConductorTestKit kit, IDeliveryStore store) : Recorder(name, kit, store), ISmsProvider
{
    // Whether a real provider could choose the sender depends on its settings, which a test does not have.
    public bool CanSendWithoutSender(SmsMessage message) => true;

    public ValueTask<AttemptResult> SendAsync(SmsMessage message, string deliveryId, CancellationToken cancellationToken) =>
        CaptureAsync(Kit.Sms, deliveryId, (ensemble, @event, attempt, at) => new CapturedSms(ensemble, @event, deliveryId, attempt, at, Name, message), cancellationToken);
}

/// <summary>Stands in for one push provider name.</summary>
internal sealed class PushRecorder(string name, ConductorTestKit kit, IDeliveryStore store) : Recorder(name, kit, store), IPushProvider
{
    public ValueTask<AttemptResult> SendAsync(PushMessage message, string deliveryId, CancellationToken cancellationToken) =>
        CaptureAsync(Kit.Push, deliveryId, (ensemble, @event, attempt, at) => new CapturedPush(ensemble, @event, deliveryId, attempt, at, Name, message), cancellationToken);
}
