using Sine.V1;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Mapping;

/// <summary>Describes the server's limits as the API's <see cref="ServerLimits"/>.</summary>
internal static class LimitsDescriber
{
    public static ServerLimits Describe(ServiceLimits limits) => new()
    {
        MaxConcurrentStreams = (uint)limits.MaxConcurrentStreams,
        MaxObjects = (uint)limits.MaxObjectsPerStream,
        MaxFramePixels = (ulong)limits.MaxFramePixels,
        MaxMaskPixels = (ulong)limits.MaxMaskPixels,
        MaxMessageBytes = (ulong)limits.MaxMessageBytes,
        MaxReferences = (uint)limits.MaxReferences,
        StreamIdleTimeoutSeconds = (uint)limits.StreamIdleTimeoutSeconds,
    };
}
