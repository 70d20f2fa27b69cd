namespace SineGrpc.Client.Masks;

/// <summary>
/// Decodes COCO run-length encoded masks as pycocotools writes them (maskApi.c, rleFrString/rleDecode).
/// </summary>
/// <remarks>
/// The compressed string holds one signed number per run length, in groups of 5 bits, low bits first;
/// each character is a group plus 48. Bit 0x20 of a group says another group follows; bit 0x10 of the
/// last group is the sign. From the fourth count on (index &gt; 2), the number is the difference from
/// the count two places earlier (the previous run of the same colour). Runs alternate 0s and 1s,
/// starting with 0s, over the pixels in column-major order.
/// </remarks>
internal static class CocoRle
{
    /// <summary>Run lengths from pycocotools' compressed counts string.</summary>
    public static uint[] DecodeCounts(string counts)
    {
        var result = new List<uint>();
        var position = 0;
        while (position < counts.Length)
        {
            long x = 0;
            var shift = 0;
            bool more;
            do
            {
                if (position >= counts.Length)
                {
                    throw new InvalidDataException("RLE counts end in the middle of a number");
                }
                var group = counts[position++] - 48;
                if (group is < 0 or > 63)
                {
                    throw new InvalidDataException($"invalid character '{counts[position - 1]}' in RLE counts");
                }
                if (shift > 35)
                {
                    throw new InvalidDataException("RLE count too large");
                }
                x |= (long)(group & 0x1F) << shift;
                shift += 5;
                more = (group & 0x20) != 0;
                if (!more && (group & 0x10) != 0)
                {
                    x |= -1L << shift; // sign-extend from the last group's top bit
                }
            }
            while (more);

            if (result.Count > 2)
            {
                x += result[^2];
            }
            if (x is < 0 or > uint.MaxValue)
            {
                throw new InvalidDataException($"RLE count {x} out of range");
            }
            result.Add((uint)x);
        }
        return [.. result];
    }

    /// <summary>A row-major binary mask from run lengths over a column-major height x width grid.</summary>
    public static BinaryMask Decode(int height, int width, IReadOnlyList<uint> counts)
    {
        var total = (long)height * width;
        var sum = counts.Sum(c => (long)c);
        if (sum != total)
        {
            throw new InvalidDataException($"RLE run lengths sum to {sum}, but a {width}x{height} mask has {total} pixels");
        }

        var pixels = new byte[total];
        var position = 0;
        for (var i = 0; i < counts.Count; i++)
        {
            var length = (int)counts[i];
            var isObject = i % 2 == 1;
            if (isObject)
            {
                for (var p = position; p < position + length; p++)
                {
                    // Column-major position p is row p % height of column p / height.
                    pixels[(p % height) * width + p / height] = 1;
                }
            }
            position += length;
        }
        return new BinaryMask(width, height, pixels);
    }

    /// <summary>Decodes a mask from the API's Rle message (compressed or plain counts).</summary>
    public static BinaryMask Decode(Sine.V1.Rle rle)
    {
        var counts = rle.Counts.Length > 0 ? DecodeCounts(rle.Counts) : [.. rle.UncompressedCounts];
        return Decode(checked((int)rle.Height), checked((int)rle.Width), counts);
    }
}
