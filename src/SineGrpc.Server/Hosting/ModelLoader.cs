using SineGrpc.Engine.Models;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Loads and warms the models after the host has started listening, so health checks
/// answer NOT_SERVING (rather than nothing) while that takes its time. A failure stops
/// the process: a pod without its models must restart, not linger.
/// </summary>
public sealed class ModelLoader(ModelCatalog catalog, IHostApplicationLifetime lifetime, ILogger<ModelLoader> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await catalog.LoadAsync(stoppingToken);
            logger.LogInformation("Models ready: {Models}; default {Default}",
                string.Join(", ", catalog.Models.Select(m => m.Name)), catalog.DefaultModelName);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "Loading models failed; stopping");
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }
}
