using Google.Protobuf;

namespace SineGrpc.Server.Mapping;

/// <summary>
/// Limits:MaxMessageBytes applied to an answer before it is sent. grpc-dotnet refuses to
/// send a larger message, which on a Track stream would end the stream over one frame, and
/// with a message that does not say what to change. The mask budget
/// (<see cref="AnswerBudget"/>) counts pixels, not bytes: COCO RLE of a mask that changes
/// at every pixel takes about a byte a pixel, so a reply within that budget can still be
/// over this limit.
/// </summary>
internal static class ReplySize
{
    /// <summary>The size of <paramref name="reply"/> when it is over the limit, or null when it fits.</summary>
    public static int? Over(IMessage reply, int maxMessageBytes)
    {
        // The uncompressed size, as grpc-dotnet checks it.
        var size = reply.CalculateSize();
        return size <= maxMessageBytes ? null : size;
    }

    /// <summary>What the client gets instead of <paramref name="what"/>, <paramref name="size"/> bytes.</summary>
    public static string Message(string what, int size, int maxMessageBytes) =>
        $"{what} would be {size} bytes, over Limits:MaxMessageBytes ({maxMessageBytes}): " +
        "ask for PNG masks (mask_encoding), fewer objects or a smaller output size";
}
