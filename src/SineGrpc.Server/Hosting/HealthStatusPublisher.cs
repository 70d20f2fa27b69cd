using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Publishes the health checks' result to <c>grpc.health.v1</c> the moment the models are
/// ready (<see cref="ModelLoader"/> calls it), so <c>Watch</c> streams hear SERVING at once.
/// </summary>
/// <remarks>
/// <c>Check</c> runs the health checks on every call, but <c>Watch</c> streams (client-side
/// health checking, as gRPC clients balancing over the headless Service do) hear only what is
/// published. Readiness changes twice: here, and when the drain begins, where the gRPC health
/// service itself ends every <c>Watch</c> with NOT_SERVING. So the periodic publisher can run
/// rarely: at one run a second its health-check runs were most of an idle server's managed
/// allocation (about 5 KB a run), which the benchmark's bytes per frame counted.
/// </remarks>
public sealed class HealthStatusPublisher(HealthCheckService checks, IEnumerable<IHealthCheckPublisher> publishers, ILogger<HealthStatusPublisher> logger)
{
    /// <summary>How often the health checks are published anyway: a safety net, not the way news travels.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMinutes(5);

    public async Task PublishNowAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var report = await checks.CheckHealthAsync(cancellationToken);
            foreach (var publisher in publishers)
                await publisher.PublishAsync(report, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Check still answers correctly (it runs the checks itself); only Watch streams lag.
            logger.LogWarning(e, "Publishing the health status failed; health Watch streams hear of it at the next periodic publish");
        }
    }
}
