// A Conductor webhook receiver: see README.md. Everything is set up in WebhookReceiverApp.Build, which the tests call too.
var app = WebhookReceiver.WebhookReceiverApp.Build(args);
app.Run();
