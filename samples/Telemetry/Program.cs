// Conductor.Sdk with OpenTelemetry: `dotnet run --project samples/Telemetry` prints the spans and metrics of one order
// with the console exporter; set OTEL_EXPORTER_OTLP_ENDPOINT (for example http://localhost:4317) to send them to a
// collector, Jaeger or Aspire's dashboard instead. See README.md.
var result = await TelemetrySample.TelemetryApp.RunAsync(args);
Console.WriteLine($"order trace {result.TraceId}; the webhook arrived with traceparent {result.WebhookTraceParent}");
return result.WebhookTraceParent?.Contains(result.TraceId, StringComparison.Ordinal) == true ? 0 : 1;
