using OpenCvSharp;
using SineGrpc.Engine.Masks;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// An object's mask given by the caller: row-major, one byte per source pixel. The object is
/// where the byte is non-zero or, when <paramref name="Label"/> is set, where it equals
/// <paramref name="Label"/>: the objects of one index mask share its plane that way instead of
/// each holding a frame-sized copy.
/// </summary>
public sealed record PromptMask(int ObjectId, ReadOnlyMemory<byte> Mask, byte Label = 0)
{
    /// <summary>Whether a mask byte of this value is the object's.</summary>
    public bool Covers(byte value) => MaskLabel.Covers(value, Label);

    /// <summary>Whether the mask holds any pixel of the object.</summary>
    public bool IsEmpty => Label == 0 ? !Mask.Span.ContainsAnyExcept((byte)0) : !Mask.Span.Contains(Label);
}

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

/// <summary>
/// One object's result: its binary mask at the output size (1 = object) and its score. The
/// mask is a plane of its own or, where the frame's objects cannot overlap, the pixels of the
/// object's owner number in a plane of owners that the frame's objects share and the
/// <see cref="FrameResult"/> holds: a frame of many objects then keeps one plane, not one
/// per object.
/// </summary>
public sealed class ObjectResult : IDisposable
{
    private readonly PooledArray<byte>? _mask;
    private readonly PooledArray<ushort>? _owners;
    private readonly ushort _owner;
    private readonly int _width;

    /// <param name="mask">Row-major, output width x height, 0 or 1; the result disposes it.</param>
    public ObjectResult(int objectId, float score, PooledArray<byte> mask, MaskStats stats)
        : this(objectId, score, stats)
    {
        _mask = mask;
    }

    /// <param name="owners">Row-major, output width x height: per pixel the owner number of the object it belongs to, 0 for none; not disposed here.</param>
    /// <param name="owner">This object's number in <paramref name="owners"/>.</param>
    internal ObjectResult(int objectId, float score, PooledArray<ushort> owners, ushort owner, int width, MaskStats stats)
        : this(objectId, score, stats)
    {
        _owners = owners;
        _owner = owner;
        _width = width;
    }

    private ObjectResult(int objectId, float score, MaskStats stats)
    {
        ObjectId = objectId;
        Score = score;
        Stats = stats;
    }

    public int ObjectId { get; }
    public float Score { get; }
    public MaskStats Stats { get; }
    /// <summary>The decoder's raw presence logits for this object (SINE: [present, absent]); null where the model has none.</summary>
    public float[]? IdLogits { get; init; }

    /// <summary>
    /// The mask, row-major, 0 or 1: its own plane, or, for a mask the frame's objects share a
    /// plane for, written into <paramref name="scratch"/> (output width x height) and returned from there.
    /// </summary>
    public ReadOnlySpan<byte> Mask(Span<byte> scratch)
    {
        if (_mask is not null)
            return _mask.Span;
        var owners = _owners!.Span;
        if (scratch.Length != owners.Length)
            throw new ArgumentException($"scratch has {scratch.Length} bytes for a mask of {owners.Length}", nameof(scratch));
        scratch.Clear();
        // Only the bounding box can hold the object's pixels.
        for (var y = Stats.Y; y < Stats.Y + Stats.Height; y++)
        {
            var row = y * _width + Stats.X;
            var source = owners.Slice(row, Stats.Width);
            var target = scratch.Slice(row, Stats.Width);
            for (var x = 0; x < source.Length; x++)
                target[x] = source[x] == _owner ? (byte)1 : (byte)0;
        }
        return scratch;
    }

    /// <summary>The mask in a pooled array of its own, which the caller disposes.</summary>
    public PooledArray<byte> CopyMask()
    {
        var length = _mask?.Length ?? _owners!.Length;
        var copy = new PooledArray<byte>(length);
        var mask = Mask(copy.Span);
        if (_mask is not null)
            mask.CopyTo(copy.Span);
        return copy;
    }

    /// <summary>
    /// The same object and mask as another result (its logits left out): reading the same
    /// shared plane, which the frame keeps, or a copy of a plane of its own.
    /// </summary>
    internal ObjectResult Alias() => _mask is null
        ? new ObjectResult(ObjectId, Score, _owners!, _owner, _width, Stats)
        : new ObjectResult(ObjectId, Score, CopyMask(), Stats);

    public void Dispose() => _mask?.Dispose();
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

    /// <summary>
    /// The stats of owners 1 to <paramref name="count"/> in a row-major plane of owner numbers
    /// (0 = none), in one pass over the plane: element i is owner i + 1's.
    /// </summary>
    public static MaskStats[] OfOwners(ReadOnlySpan<ushort> owners, int width, int height, int count)
    {
        var minX = new int[count];
        var minY = new int[count];
        var maxX = new int[count];
        var maxY = new int[count];
        var area = new long[count];
        Array.Fill(minX, width);
        Array.Fill(minY, height);
        Array.Fill(maxX, -1);
        Array.Fill(maxY, -1);
        for (var y = 0; y < height; y++)
        {
            var row = owners.Slice(y * width, width);
            for (var x = 0; x < width; x++)
            {
                var o = row[x] - 1;
                if (o < 0)
                    continue;
                if (x < minX[o])
                    minX[o] = x;
                if (x > maxX[o])
                    maxX[o] = x;
                if (y < minY[o])
                    minY[o] = y;
                maxY[o] = y;
                area[o]++;
            }
        }
        var stats = new MaskStats[count];
        for (var i = 0; i < count; i++)
            stats[i] = area[i] == 0 ? default : new MaskStats(minX[i], minY[i], maxX[i] - minX[i] + 1, maxY[i] - minY[i] + 1, area[i]);
        return stats;
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
/// <param name="owners">The plane of owners the objects' masks share, if they do; disposed with the result.</param>
public sealed class FrameResult(int width, int height, IReadOnlyList<ObjectResult> objects, PooledArray<ushort>? indexMap, StageTimes times,
    PooledArray<ushort>? owners = null) : IDisposable
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
        owners?.Dispose();
    }
}
