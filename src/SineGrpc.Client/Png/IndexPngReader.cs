using System.Buffers.Binary;
using System.IO.Compression;

namespace SineGrpc.Client.Png;

/// <summary>A decoded label image: one raw pixel value per pixel, row-major.</summary>
internal sealed record LabelImage(int Width, int Height, ushort[] Values);

/// <summary>
/// Reads the raw pixel values of mask PNGs: palette indices for palette PNGs (what DAVIS
/// annotations are; OpenCV would turn them into colours), gray levels for grayscale ones.
/// Non-interlaced palette and grayscale PNGs of 1, 2, 4, 8 (and, grayscale, 16) bits.
/// </summary>
internal static class IndexPngReader
{
    public static LabelImage Read(string path)
    {
        try
        {
            return Decode(File.ReadAllBytes(path));
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
    }

    public static LabelImage Decode(byte[] png)
    {
        var header = PngHeader.Read(png);
        if (header.ColourType is not (PngColourType.Palette or PngColourType.Grayscale))
        {
            throw new InvalidDataException($"a mask must be a palette or grayscale PNG, not colour type {(int)header.ColourType}");
        }
        var bits = header.BitDepth;
        if (bits is not (1 or 2 or 4 or 8 or 16) || (bits == 16 && header.ColourType == PngColourType.Palette))
        {
            throw new InvalidDataException($"unsupported PNG bit depth {bits}");
        }
        var chunks = PngChunks.ReadAll(png);
        if (chunks[0].Data.Length != 13)
        {
            throw new InvalidDataException($"the PNG's IHDR chunk has {chunks[0].Data.Length} bytes, not 13");
        }
        if (chunks[0].Data[12] != 0)
        {
            throw new InvalidDataException("interlaced PNG masks are not supported");
        }

        var width = header.Width;
        var height = header.Height;
        // A corrupt header can claim billions of pixels: refuse what no array can hold, rather than overflow.
        var longRowBytes = ((long)width * bits + 7) / 8;
        if ((long)width * height > Array.MaxLength || height * (1 + longRowBytes) > Array.MaxLength)
        {
            throw new InvalidDataException($"a {width}x{height} mask is too large");
        }
        var rowBytes = (int)longRowBytes;
        var raw = new byte[height * (1 + rowBytes)];
        using (var compressed = new MemoryStream([.. chunks.Where(c => c.Type == "IDAT").SelectMany(c => c.Data)]))
        using (var zlib = new ZLibStream(compressed, CompressionMode.Decompress))
        {
            zlib.ReadExactly(raw);
        }

        var bytesPerPixel = Math.Max(1, bits / 8);
        var values = new ushort[width * height];
        var previous = new byte[rowBytes];
        var current = new byte[rowBytes];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (1 + rowBytes)];
            raw.AsSpan(y * (1 + rowBytes) + 1, rowBytes).CopyTo(current);
            Unfilter(filter, current, previous, bytesPerPixel);
            var row = values.AsSpan(y * width, width);
            for (var x = 0; x < width; x++)
            {
                row[x] = bits switch
                {
                    16 => BinaryPrimitives.ReadUInt16BigEndian(current.AsSpan(2 * x)),
                    8 => current[x],
                    _ => (ushort)((current[x * bits / 8] >> (8 - bits - (x * bits % 8))) & ((1 << bits) - 1)),
                };
            }
            (previous, current) = (current, previous);
        }
        return new LabelImage(width, height, values);
    }

    private static void Unfilter(byte filter, Span<byte> row, ReadOnlySpan<byte> above, int bpp)
    {
        switch (filter)
        {
            case 0:
                break;
            case 1:
                for (var i = bpp; i < row.Length; i++)
                {
                    row[i] += row[i - bpp];
                }
                break;
            case 2:
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] += above[i];
                }
                break;
            case 3:
                for (var i = 0; i < row.Length; i++)
                {
                    var left = i >= bpp ? row[i - bpp] : 0;
                    row[i] += (byte)((left + above[i]) / 2);
                }
                break;
            case 4:
                for (var i = 0; i < row.Length; i++)
                {
                    int a = i >= bpp ? row[i - bpp] : 0, b = above[i], c = i >= bpp ? above[i - bpp] : 0;
                    int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    row[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                break;
            default:
                throw new InvalidDataException($"bad PNG filter type {filter}");
        }
    }
}
