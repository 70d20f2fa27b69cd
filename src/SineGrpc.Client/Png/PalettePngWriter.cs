using System.Buffers.Binary;
using System.IO.Compression;
using SineGrpc.Client.Masks;

namespace SineGrpc.Client.Png;

/// <summary>
/// Encodes 8-bit palette PNGs (colour type 3): each pixel is one byte, an index into the palette.
/// This is the format DAVIS-style index masks use, which OpenCV cannot write.
/// </summary>
internal static class PalettePngWriter
{
    public static byte[] Encode(int width, int height, ReadOnlySpan<byte> indices, IReadOnlyList<Rgb> palette)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (indices.Length != width * height)
        {
            throw new ArgumentException($"expected {width * height} indices for {width}x{height}, got {indices.Length}", nameof(indices));
        }
        if (palette.Count is < 1 or > 256)
        {
            throw new ArgumentException("a PNG palette has 1 to 256 entries", nameof(palette));
        }

        using var png = new MemoryStream();
        png.Write(PngChunks.Signature);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr[4..], (uint)height);
        ihdr[8] = 8;                            // bit depth
        ihdr[9] = (byte)PngColourType.Palette;
        ihdr[10] = 0;                           // compression: deflate
        ihdr[11] = 0;                           // filter method: adaptive (we use filter type 0 on every row)
        ihdr[12] = 0;                           // no interlace
        PngChunks.Write(png, "IHDR", ihdr);

        var plte = new byte[palette.Count * 3];
        for (var i = 0; i < palette.Count; i++)
        {
            plte[3 * i] = palette[i].R;
            plte[3 * i + 1] = palette[i].G;
            plte[3 * i + 2] = palette[i].B;
        }
        PngChunks.Write(png, "PLTE", plte);

        PngChunks.Write(png, "IDAT", Deflate(width, height, indices));
        PngChunks.Write(png, "IEND", []);
        return png.ToArray();
    }

    private static byte[] Deflate(int width, int height, ReadOnlySpan<byte> indices)
    {
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            // Each scanline starts with its filter type; 0 (none) is enough for masks, which deflate
            // already shrinks well because they are long runs of equal bytes.
            ReadOnlySpan<byte> filterNone = [0];
            for (var y = 0; y < height; y++)
            {
                zlib.Write(filterNone);
                zlib.Write(indices.Slice(y * width, width));
            }
        }
        return compressed.ToArray();
    }
}
