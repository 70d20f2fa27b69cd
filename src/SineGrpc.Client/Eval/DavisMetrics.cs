using OpenCvSharp;

namespace SineGrpc.Client.Eval;

/// <summary>
/// The semi-supervised DAVIS measures, defined as the davis2017-evaluation toolkit computes
/// them: J, the region similarity (IoU), and F, the boundary F-measure, on binary masks
/// (row-major, non-zero = object); and the per-object statistics over frames.
/// </summary>
internal static class DavisMetrics
{
    /// <summary>The toolkit's boundary tolerance, as a fraction of the image diagonal.</summary>
    public const double DefaultBoundThreshold = 0.008;

    /// <summary>Region similarity: |G ∩ P| / |G ∪ P|, and 1 when both masks are empty.</summary>
    public static double Jaccard(ReadOnlySpan<byte> groundTruth, ReadOnlySpan<byte> prediction)
    {
        CheckSameLength(groundTruth, prediction);
        long intersection = 0, union = 0;
        for (var i = 0; i < groundTruth.Length; i++)
        {
            bool g = groundTruth[i] != 0, p = prediction[i] != 0;
            if (g && p)
            {
                intersection++;
            }
            if (g || p)
            {
                union++;
            }
        }
        return union == 0 ? 1.0 : (double)intersection / union;
    }

    /// <summary>
    /// The matching distance in pixels: <paramref name="boundThreshold"/> itself when it is 1 or
    /// more, else that fraction of the image diagonal, rounded up.
    /// </summary>
    public static int ToleranceRadius(int width, int height, double boundThreshold = DefaultBoundThreshold) =>
        boundThreshold >= 1
            ? (int)boundThreshold
            : (int)Math.Ceiling(boundThreshold * Math.Sqrt((double)width * width + (double)height * height));

    /// <summary>
    /// Boundary F-measure: both masks' boundaries (one pixel wide, <see cref="BoundaryMap"/>) are
    /// matched within a disk of <see cref="ToleranceRadius"/> pixels; precision is the share of
    /// predicted boundary pixels near a true one, recall the share of true ones near a predicted
    /// one. An empty boundary on one side gives 0, on both sides 1.
    /// </summary>
    public static double BoundaryF(ReadOnlySpan<byte> groundTruth, ReadOnlySpan<byte> prediction, int width, int height,
        double boundThreshold = DefaultBoundThreshold)
    {
        CheckSameLength(groundTruth, prediction);
        if (groundTruth.Length != width * height)
        {
            throw new ArgumentException($"masks hold {groundTruth.Length} pixels, {width}x{height} needs {width * height}");
        }

        var gtBoundary = BoundaryMap(groundTruth, width, height);
        var fgBoundary = BoundaryMap(prediction, width, height);
        long gtCount = CountNonZero(gtBoundary), fgCount = CountNonZero(fgBoundary);

        double precision, recall;
        if (fgCount == 0 && gtCount > 0)
        {
            (precision, recall) = (1, 0);
        }
        else if (fgCount > 0 && gtCount == 0)
        {
            (precision, recall) = (0, 1);
        }
        else if (fgCount == 0 && gtCount == 0)
        {
            (precision, recall) = (1, 1);
        }
        else
        {
            var radius = ToleranceRadius(width, height, boundThreshold);
            var gtNear = Dilate(gtBoundary, width, height, radius);
            var fgNear = Dilate(fgBoundary, width, height, radius);
            precision = (double)CountBoth(fgBoundary, gtNear) / fgCount;
            recall = (double)CountBoth(gtBoundary, fgNear) / gtCount;
        }
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
    }

    /// <summary>
    /// The toolkit's one-pixel boundary (seg2bmap): a pixel is on the boundary when it differs
    /// from its right, lower or lower-right neighbour (outside the image counts as background);
    /// on the last row only the right neighbour counts, on the last column only the lower one,
    /// and the bottom-right pixel never is. Boundaries sit half a pixel towards the origin.
    /// </summary>
    public static byte[] BoundaryMap(ReadOnlySpan<byte> mask, int width, int height)
    {
        var map = new byte[width * height];
        bool At(ReadOnlySpan<byte> m, int y, int x) => y < height && x < width && m[y * width + x] != 0;
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var here = At(mask, y, x);
                bool edge;
                if (y == height - 1 && x == width - 1)
                {
                    edge = false;
                }
                else if (y == height - 1)
                {
                    edge = here != At(mask, y, x + 1);
                }
                else if (x == width - 1)
                {
                    edge = here != At(mask, y + 1, x);
                }
                else
                {
                    edge = here != At(mask, y, x + 1) || here != At(mask, y + 1, x) || here != At(mask, y + 1, x + 1);
                }
                map[y * width + x] = edge ? (byte)1 : (byte)0;
            }
        }
        return map;
    }

    /// <summary>
    /// Mean, recall (share of frames above 0.5) and decay (mean of the first quarter minus the
    /// mean of the last, over the toolkit's 4 overlapping bins) of one object's per-frame values.
    /// NaN for no frames.
    /// </summary>
    public static (double Mean, double Recall, double Decay) Statistics(IReadOnlyList<double> values)
    {
        var n = values.Count;
        if (n == 0)
        {
            return (double.NaN, double.NaN, double.NaN);
        }
        var mean = values.Average();
        var recall = values.Count(v => v > 0.5) / (double)n;

        // Bin edges: round(linspace(1, n, 5) + 1e-10) - 1, each bin [edge_i, edge_{i+1}] inclusive.
        const int bins = 4;
        var edges = new int[bins + 1];
        var step = (n - 1) / (double)bins;
        for (var i = 0; i <= bins; i++)
        {
            var point = i == bins ? n : 1 + i * step;
            edges[i] = (int)Math.Round(point + 1e-10, MidpointRounding.ToEven) - 1;
        }
        double BinMean(int bin) => Mean(values, edges[bin], Math.Min(edges[bin + 1], n - 1));
        return (mean, recall, BinMean(0) - BinMean(bins - 1));
    }

    private static double Mean(IReadOnlyList<double> values, int first, int last)
    {
        double sum = 0;
        for (var i = first; i <= last; i++)
        {
            sum += values[i];
        }
        return sum / (last - first + 1);
    }

    /// <summary>A disk of radius r as a (2r+1)² 0/1 kernel: offsets with dx² + dy² ≤ r².</summary>
    public static byte[] Disk(int radius)
    {
        var size = 2 * radius + 1;
        var disk = new byte[size * size];
        for (var dy = -radius; dy <= radius; dy++)
        {
            for (var dx = -radius; dx <= radius; dx++)
            {
                disk[(dy + radius) * size + dx + radius] = dx * dx + dy * dy <= radius * radius ? (byte)1 : (byte)0;
            }
        }
        return disk;
    }

    private static byte[] Dilate(byte[] map, int width, int height, int radius)
    {
        var size = 2 * radius + 1;
        var disk = Disk(radius);
        using var source = Mat.FromPixelData(height, width, MatType.CV_8UC1, map);
        using var kernel = Mat.FromPixelData(size, size, MatType.CV_8UC1, disk);
        using var dilated = new Mat();
        // Constant border with OpenCV's default morphology border value: outside pixels never count.
        Cv2.Dilate(source, dilated, kernel);
        var result = new byte[width * height];
        dilated.AsSpan<byte>().CopyTo(result);
        return result;
    }

    private static long CountNonZero(ReadOnlySpan<byte> map) => map.Length - System.MemoryExtensions.Count(map, (byte)0);

    private static long CountBoth(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        long count = 0;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] != 0 && b[i] != 0)
            {
                count++;
            }
        }
        return count;
    }

    private static void CheckSameLength(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"the masks differ in size ({a.Length} and {b.Length} pixels)");
        }
    }
}
