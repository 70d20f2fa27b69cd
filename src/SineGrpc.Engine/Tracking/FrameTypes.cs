using OpenCvSharp;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>An object's mask given by the caller: row-major, one byte per source pixel, non-zero = object.</summary>
public sealed record PromptMask(int ObjectId, ReadOnlyMemory<byte> Mask);

/// <summary>One frame for a <see cref="TrackSession"/>: decoded BGR pixels, prompts, objects to drop.</summary>
public sealed record FrameInput(Mat Image, IReadOnlyList<PromptMask> Prompts, IReadOnlyList<int> RemovedObjectIds);

/// <summary>
/// Output geometry and layout. Width/height 0 = the frame's size; one of them 0 = keep aspect.
/// <paramref name="IncludeLogits"/>: attach the model's raw presence logits to each object (verification).
/// <paramref name="MaxPixels"/>: the most pixels an output may have; with one side given, the
/// other follows the frame, so only <see cref="Resolve"/> can check it.
/// </summary>
public sealed record OutputSpec(int Width, int Height, bool Exclusive, bool IncludeLogits = false, long MaxPixels = long.MaxValue)
{
    /// <summary>The output size for a frame of the given size.</summary>
    /// <exception cref="InvalidInputException">That size is over <see cref="MaxPixels"/>.</exception>
    public (int Width, int Height) Resolve(int frameWidth, int frameHeight)
    {
        var (width, height) = (Width, Height) switch
        {
            (0, 0) => (frameWidth, frameHeight),
            (> 0, 0) => (Width, Math.Max(1, Math.Round((double)frameHeight * Width / frameWidth))),
            (0, > 0) => (Math.Max(1, Math.Round((double)frameWidth * Height / frameHeight)), Height),
            _ => ((double)Width, (double)Height),
        };
        if (width * height > MaxPixels)
            throw new InvalidInputException($"output size {width}x{height} (for a {frameWidth}x{frameHeight} frame) is over the limit of {MaxPixels} pixels");
        return ((int)width, (int)height);
    }
}

/// <summary>One object's result: a binary mask at the output size (1 = object) and its score.</summary>
public sealed class ObjectResult(int objectId, float score, PooledArray<byte> mask, MaskStats stats) : IDisposable
{
    public int ObjectId { get; } = objectId;
    public float Score { get; } = score;
    /// <summary>Row-major, output width x height, 0 or 1.</summary>
    public PooledArray<byte> Mask { get; } = mask;
    public MaskStats Stats { get; } = stats;
    /// <summary>The decoder's raw presence logits for this object (SINE: [present, absent]); null where the model has none.</summary>
    public float[]? IdLogits { get; init; }
    public void Dispose() => Mask.Dispose();
}

/// <summary>Bounding box and area of a mask; all zero for an empty mask.</summary>
public readonly record struct MaskStats(int X, int Y, int Width, int Height, long Area)
{
    public static MaskStats Of(ReadOnlySpan<byte> mask, int width, int height)
    {
        int minX = width, minY = height, maxX = -1, maxY = -1;
        long area = 0;
        for (var y = 0; y < height; y++)
        {
            var row = mask.Slice(y * width, width);
            var first = row.IndexOfAnyExcept((byte)0);
            if (first < 0)
                continue;
            var last = row.LastIndexOfAnyExcept((byte)0);
            minX = Math.Min(minX, first);
            maxX = Math.Max(maxX, last);
            minY = Math.Min(minY, y);
            maxY = y;
            area += row.Length - System.MemoryExtensions.Count(row, (byte)0);
        }
        return area == 0 ? default : new MaskStats(minX, minY, maxX - minX + 1, maxY - minY + 1, area);
    }
}

/// <summary>Server-side time spent on one request, per stage, in milliseconds.</summary>
public sealed class StageTimes
{
    public double PreprocessMs { get; set; }
    public double EncoderMs { get; set; }
    public double DecoderMs { get; set; }
    public double PostprocessMs { get; set; }
    public double MemoryMs { get; set; }
    public double TotalMs { get; set; }
}

/// <summary>The masks of every tracked object on one frame, at the output size.</summary>
public sealed class FrameResult(int width, int height, IReadOnlyList<ObjectResult> objects, PooledArray<ushort>? indexMap, StageTimes times) : IDisposable
{
    public int Width { get; } = width;
    public int Height { get; } = height;
    /// <summary>Every tracked object, in increasing id order.</summary>
    public IReadOnlyList<ObjectResult> Objects { get; } = objects;
    /// <summary>With an exclusive layout: row-major object id per pixel (0 = background).</summary>
    public PooledArray<ushort>? IndexMap { get; } = indexMap;
    public StageTimes Times { get; } = times;

    public void Dispose()
    {
        foreach (var o in Objects)
            o.Dispose();
        IndexMap?.Dispose();
    }
}
