namespace SineGrpc.Engine.Masks;

/// <summary>Measurements of binary masks.</summary>
public static class MaskGeometry
{
    /// <summary>
    /// The tight bounding box (in pixels, X/Y = top-left, as COCO's bbox) and the area
    /// (count of non-zero pixels) of a row-major mask. An empty mask gives an all-zero box.
    /// </summary>
    public static (int X, int Y, int Width, int Height, long Area) BoxAndArea(ReadOnlySpan<byte> mask, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(height);
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        if (mask.Length != (long)height * width)
            throw new ArgumentException($"mask has {mask.Length} bytes, {height}x{width} needs {(long)height * width}", nameof(mask));

        int left = int.MaxValue, right = -1, top = -1, bottom = -1;
        long area = 0;
        for (int y = 0; y < height; y++)
        {
            var row = mask.Slice(y * width, width);
            // Vectorised searches: rows are mostly empty, so most cost one scan.
            int first = row.IndexOfAnyExcept((byte)0);
            if (first < 0)
                continue;
            int last = row.LastIndexOfAnyExcept((byte)0);
            var span = row[first..(last + 1)];
            area += span.Length - span.Count((byte)0);
            left = Math.Min(left, first);
            right = Math.Max(right, last);
            if (top < 0)
                top = y;
            bottom = y;
        }
        if (top < 0)
            return (0, 0, 0, 0, 0);
        return (left, top, right - left + 1, bottom - top + 1, area);
    }
}
