using System.Buffers;
using Grpc.Core;
using Sine.V1;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Server.Transport;

/// <summary>
/// Reads Track requests off the wire with one copy of a frame's image bytes instead of
/// two. Google.Protobuf copies every <c>bytes</c> field into a new array, which for a
/// video frame is most of what the server allocates per frame; here the whole payload is
/// copied once into a pooled buffer and the image points into it. The frame's buffer
/// goes back to the pool through <see cref="FramePayloads.Release"/>.
/// </summary>
internal static class TrackRequestDeserializer
{
    public static TrackRequest Deserialize(DeserializationContext context)
    {
        // The payload lives in the transport's buffers only for the length of this call.
        PooledArray<byte>? payload = new(context.PayloadLength);
        try
        {
            context.PayloadAsReadOnlySequence().CopyTo(payload.Span);
            if (TrackRequestReader.TryRead(payload.Array, payload.Length) is not { } request)
                return TrackRequest.Parser.ParseFrom(payload.Span);
            if (TrackRequestReader.HoldsImageBytes(request))
            {
                FramePayloads.Attach(request.Frame, payload);
                payload = null;
            }
            return request;
        }
        finally
        {
            // Unless the frame kept it: a fallback parse, a `start` or a frame without image bytes.
            payload?.Dispose();
        }
    }
}
