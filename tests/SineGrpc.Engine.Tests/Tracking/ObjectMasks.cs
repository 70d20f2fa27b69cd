using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

internal static class ObjectMasks
{
    /// <summary>The object's mask as an array, whether it has a plane of its own or shares its frame's.</summary>
    public static byte[] MaskArray(this ObjectResult result)
    {
        using var copy = result.CopyMask();
        return copy.Span.ToArray();
    }
}
