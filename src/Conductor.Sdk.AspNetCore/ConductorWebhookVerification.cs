using Conductor.Sdk.Webhooks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Conductor.Sdk.AspNetCore;

/// <summary>Settings of the signature check on a receiving endpoint.</summary>
public sealed class ConductorWebhookVerificationOptions
{
    /// <summary>Secrets accepted; list the new and the old one while rotating.</summary>
    public IList<string> Secrets { get; } = new List<string>();

    /// <summary>The format the sender uses.</summary>
    public WebhookSignatureFormat Format { get; set; } = WebhookSignatureFormat.Conductor;

    /// <summary>Allowed distance between the webhook's timestamp and this server's clock.</summary>
    public TimeSpan Tolerance { get; set; } = WebhookSignature.DefaultTolerance;

    /// <summary>Bodies larger than this are refused with 413 before any signature work.</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;
}

/// <summary>A webhook whose signature was verified; available to the handler through <see cref="Get"/>.</summary>
/// <param name="Body">The raw body bytes that were verified.</param>
/// <param name="Event">The event name header.</param>
/// <param name="DeliveryId">The stable delivery id: the idempotency key to deduplicate on.</param>
/// <param name="Attempt">The attempt number (1-based), or 0 when the header is absent.</param>
public sealed record VerifiedWebhook(ReadOnlyMemory<byte> Body, string? Event, string? DeliveryId, int Attempt)
{
    private static readonly object Key = new();

    /// <summary>The verified webhook of the current request, or null when the filter did not run.</summary>
    public static VerifiedWebhook? Get(HttpContext context) => context.Items.TryGetValue(Key, out var value) ? value as VerifiedWebhook : null;

    internal void Attach(HttpContext context) => context.Items[Key] = this;
}

internal sealed partial class ConductorSignatureFilter(ConductorWebhookVerificationOptions options)
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var request = http.Request;
        var headers = request.Headers;
        var time = http.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
        var now = time.GetUtcNow();

        // Missing signature headers or a stale timestamp are refused before a byte of the body is read.
        var result = Verify(ReadOnlySpan<byte>.Empty, headers, now);
        if (result is WebhookVerificationResult.MissingHeader or WebhookVerificationResult.StaleTimestamp) return Reject(http, result);
        if (request.ContentLength > options.MaxBodyBytes) return TooLarge();

        // The body is read up to MaxBodyBytes and no further, whether or not the sender announced its length (a chunked
        // body that never ends costs at most that much memory).
        request.EnableBuffering();
        using var buffer = new MemoryStream();
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > options.MaxBodyBytes) return TooLarge();
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }

        request.Body.Position = 0;
        var body = buffer.ToArray();
        result = Verify(body, headers, now);
        if (result != WebhookVerificationResult.Valid) return Reject(http, result);

        var deliveryId = options.Format == WebhookSignatureFormat.StandardWebhooks ? headers["webhook-id"].ToString() : headers["X-Conductor-Delivery-Id"].ToString();
        _ = int.TryParse(headers["X-Conductor-Delivery-Attempt"], out var attempt);
        new VerifiedWebhook(body, headers["X-Conductor-Event"].ToString(), deliveryId.Length == 0 ? null : deliveryId, attempt).Attach(http);
        return await next(context).ConfigureAwait(false);
    }

    private WebhookVerificationResult Verify(ReadOnlySpan<byte> body, IHeaderDictionary headers, DateTimeOffset now) =>
        options.Format == WebhookSignatureFormat.StandardWebhooks
            ? WebhookSignature.VerifyStandardWebhooks(body, headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"], options.Secrets, now, options.Tolerance)
            : WebhookSignature.Verify(body, headers["X-Conductor-Signature"], headers["X-Conductor-Timestamp"], options.Secrets, now, options.Tolerance);

    private Problem Reject(HttpContext http, WebhookVerificationResult result)
    {
        var logger = http.RequestServices.GetService<ILoggerFactory>()?.CreateLogger("Conductor.Sdk.AspNetCore.WebhookVerification");
        if (logger is not null) Rejected(logger, http.Request.Path, result);
        return new Problem(StatusCodes.Status401Unauthorized, "Webhook signature rejected", WebhookSignature.Describe(result, options.Format));
    }

    private Problem TooLarge() => new(StatusCodes.Status413PayloadTooLarge, "Webhook body too large", $"the body exceeds {options.MaxBodyBytes} bytes");

    /// <summary>
    /// An RFC 9457 problem response written without System.Text.Json reflection, so the filter also works in
    /// trimmed and native-AOT receivers.
    /// </summary>
    private sealed class Problem(int status, string title, string detail) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = "application/problem+json";
            await using var writer = new System.Text.Json.Utf8JsonWriter(httpContext.Response.Body);
            writer.WriteStartObject();
            writer.WriteString("title", title);
            writer.WriteNumber("status", status);
            writer.WriteString("detail", detail);
            writer.WriteEndObject();
            await writer.FlushAsync(httpContext.RequestAborted).ConfigureAwait(false);
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Rejected a webhook to {Path}: {Result}")]
    private static partial void Rejected(ILogger logger, string path, WebhookVerificationResult result);
}
