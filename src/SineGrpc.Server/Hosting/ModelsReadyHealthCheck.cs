using Microsoft.Extensions.Diagnostics.HealthChecks;
using SineGrpc.Engine.Models;

namespace SineGrpc.Server.Hosting;

/// <summary>Healthy (grpc.health.v1 SERVING) once every model is loaded and warmed up, until the server starts draining.</summary>
public sealed class ModelsReadyHealthCheck(ModelCatalog catalog, DrainCoordinator drain) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(drain.IsDraining ? HealthCheckResult.Unhealthy("draining: the server is shutting down")
            : catalog.IsReady
            ? HealthCheckResult.Healthy($"{catalog.Models.Count} model(s) on {string.Join(",", catalog.Models.Select(m => m.ExecutionProvider).Distinct())}")
            : HealthCheckResult.Unhealthy("models are loading"));
}
