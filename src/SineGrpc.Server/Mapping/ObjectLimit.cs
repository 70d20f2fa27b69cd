using SineGrpc.Engine;

namespace SineGrpc.Server.Mapping;

/// <summary>Limits:MaxObjectsPerStream, for a Track frame's objects and a Segment call's labels alike.</summary>
internal static class ObjectLimit
{
    public static void Check(int objects, int maxObjects)
    {
        if (objects > maxObjects)
            throw new InvalidInputException($"{objects} objects are over the limit of {maxObjects} per stream");
    }
}
