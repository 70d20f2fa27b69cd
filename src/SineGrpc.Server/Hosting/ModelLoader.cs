using SineGrpc.Engine.Models;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Loads and warms the models after the host has started listening, so health checks
/// answer NOT_SERVING (rather than nothing) while that takes its time. A failure stops
/// the process: a pod without its models must restart, not linger.
/// </summary>
public sealed class ModelLoader(ModelCatalog catalog, HealthStatusPublisher health, IHostApplicationLifetime lifetime, ILogger<ModelLoader> logger) : BackgroundService
{
    /// <summary>Why loading failed (the process is stopping then); null while loading or once loaded.</summary>
    public Exception? Failure { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await catalog.LoadAsync(stoppingToken);
            logger.LogInformation("Models ready: {Models}; default {Default}",
                string.Join(", ", catalog.Models.Select(m => m.Name)), catalog.DefaultModelName);
            await health.PublishNowAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Failure = e;
            if (MissingNativeLibrary(e) is { } missing)
                logger.LogCritical("A native library could not be loaded: {Message}. On Debian or Ubuntu, scripts/install-deps installs what the service needs (OpenCV's needs libgtk-3-0)",
                    missing.Message.Split('\n')[0].Trim());
            logger.LogCritical(e, "Loading models failed; stopping");
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private static DllNotFoundException? MissingNativeLibrary(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is DllNotFoundException missing)
                return missing;
        }
        return null;
    }
}
