using Google.Protobuf;
using Sine.V1;
using SineGrpc.Engine.Masks;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Server.Mapping;

/// <summary>Writes engine results as API messages, in the encoding the client asked for.</summary>
internal static class ResultWriter
{
    /// <summary>
    /// The objects' messages. Masks that share their frame's plane of owners are written out
    /// one at a time into one scratch plane, so that encoding many objects holds one plane.
    /// </summary>
    public static List<ObjectMask> Objects(IReadOnlyList<ObjectResult> results, int width, int height, MaskEncoding encoding)
    {
        using var scratch = new PooledArray<byte>(width * height);
        var messages = new List<ObjectMask>(results.Count);
        foreach (var result in results)
        {
            var message = new ObjectMask
            {
                ObjectId = (uint)result.ObjectId,
                Score = result.Score,
                Mask = EncodeMask(result.Mask(scratch.Span), width, height, encoding),
                Box = Box(result.Stats),
                Area = (ulong)result.Stats.Area,
            };
            if (result.IdLogits is { } logits)
                message.IdLogits.AddRange(logits);   // only set when the client asked (OutputOptions.include_logits)
            messages.Add(message);
        }
        return messages;
    }

    public static Instance Instance(InstanceResult result, int width, int height, MaskEncoding encoding) => new()
    {
        Label = (uint)result.Label,
        Score = result.Score,
        Mask = EncodeMask(result.Mask.Span[..(width * height)], width, height, encoding),
        Box = Box(result.Stats),
        Area = (ulong)result.Stats.Area,
    };

    public static ByteString IndexMask(FrameResult frame) =>
        frame.IndexMap is null
            ? ByteString.Empty
            : UnsafeByteOperations.UnsafeWrap(MaskPng.EncodeIndex(frame.IndexMap.Span, frame.Height, frame.Width));

    public static StageTimings Timings(StageTimes times, double imageDecodeMs, double totalMs) => new()
    {
        ImageDecodeMs = (float)imageDecodeMs,
        PreprocessMs = (float)times.PreprocessMs,
        EncoderMs = (float)times.EncoderMs,
        DecoderMs = (float)times.DecoderMs,
        PostprocessMs = (float)times.PostprocessMs,
        MemoryMs = (float)times.MemoryMs,
        TotalMs = (float)totalMs,
    };

    private static Mask EncodeMask(ReadOnlySpan<byte> mask, int width, int height, MaskEncoding encoding) =>
        encoding == MaskEncoding.Png
            ? new Mask { Png = UnsafeByteOperations.UnsafeWrap(MaskPng.EncodeBinary(mask, height, width)) }
            : new Mask { Rle = new Rle { Height = (uint)height, Width = (uint)width, Counts = CocoRle.Encode(mask, height, width) } };

    private static BoundingBox Box(MaskStats stats) => new()
    {
        X = (uint)stats.X,
        Y = (uint)stats.Y,
        Width = (uint)stats.Width,
        Height = (uint)stats.Height,
    };
}
