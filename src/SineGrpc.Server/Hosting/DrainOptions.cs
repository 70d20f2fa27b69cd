using System.ComponentModel.DataAnnotations;

namespace SineGrpc.Server.Hosting;

/// <summary>Graceful shutdown, bound from "Drain".</summary>
public sealed class DrainOptions
{
    public const string Section = "Drain";

    /// <summary>
    /// After SIGTERM, how long open Track streams may go on before they are ended with
    /// UNAVAILABLE. Keep Kubernetes' terminationGracePeriodSeconds a few seconds longer.
    /// </summary>
    [Range(0, 3600)]
    public int GracePeriodSeconds { get; set; } = 30;
}
