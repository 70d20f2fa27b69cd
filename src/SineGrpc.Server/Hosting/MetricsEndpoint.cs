using Microsoft.AspNetCore.Http;
namespace SineGrpc.Server.Hosting;

/// <summary>
/// Serves Prometheus' /metrics on the Kestrel endpoint named "Metrics" only (port 9464 by
/// default, HTTP/1.1), so scrapes never share the gRPC port and its limits.
/// </summary>
internal static class MetricsEndpoint
{
    public const string EndpointName = "Metrics";

    public static void Map(WebApplication app, IConfiguration configuration)
    {
        var url = configuration[$"Kestrel:Endpoints:{EndpointName}:Url"];
        if (string.IsNullOrEmpty(url))
            return;
        var port = BindingAddress.Parse(url).Port;
        var scrape = app.MapPrometheusScrapingEndpoint("/metrics");
        // Port 0 (tests) is chosen at start: the host cannot be pinned then.
        if (port > 0)
            scrape.RequireHost($"*:{port}");
    }
}
