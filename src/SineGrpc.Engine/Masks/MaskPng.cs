using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace SineGrpc.Engine.Masks;

/// <summary>A decoded label image: one raw pixel value per pixel, row-major.</summary>
/// <param name="Values">Width*Height values: palette indices, gray levels, or 0/1 for colour images.</param>
public sealed record LabelMap(int Width, int Height, ushort[] Values);

/// <summary>
/// PNG masks: writes binary and label masks as grayscale PNGs, and reads the raw pixel
/// values of mask PNGs.
/// </summary>
/// <remarks>
/// The reader is our own rather than OpenCV's because DAVIS and YouTube-VOS annotations are
/// palette PNGs whose palette INDICES are the object ids; <c>imdecode</c> would turn them
/// into colours. It supports every non-interlaced PNG: palette and gray at 1/2/4/8 bits
/// (values are the indices / raw gray levels), 16-bit gray, gray+alpha (the gray value),
/// and RGB/RGBA, which are read as binary masks (1 where any colour channel is non-zero,
/// alpha ignored).
/// </remarks>
public static class MaskPng
{
    private const byte ColorGray = 0, ColorRgb = 2, ColorPalette = 3, ColorGrayAlpha = 4, ColorRgba = 6;

    /// <summary>Encodes a binary mask as an 8-bit grayscale PNG: 255 where the mask is non-zero, else 0.</summary>
    public static byte[] EncodeBinary(ReadOnlySpan<byte> mask, int height, int width)
    {
        CheckSize(mask.Length, height, width, nameof(mask));
        var row = ArrayPool<byte>.Shared.Rent(1 + width);
        try
        {
            using var idat = new MemoryStream();
            using (var zlib = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
            {
                row[0] = 0; // filter type None: masks are flat, deflate alone does well
                for (int y = 0; y < height; y++)
                {
                    var source = mask.Slice(y * width, width);
                    for (int x = 0; x < width; x++)
                        row[1 + x] = source[x] != 0 ? (byte)255 : (byte)0;
                    zlib.Write(row, 0, 1 + width);
                }
            }
            return Assemble(width, height, bitDepth: 8, ColorGray, idat);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(row);
        }
    }

    /// <summary>
    /// Encodes a label mask (0 = background, else object id) as a grayscale PNG whose pixel
    /// values are the ids: 8-bit when every id is below 256, else 16-bit.
    /// </summary>
    public static byte[] EncodeIndex(ReadOnlySpan<ushort> ids, int height, int width)
    {
        CheckSize(ids.Length, height, width, nameof(ids));
        bool wide = ids.Length > 0 && ids.IndexOfAnyInRange((ushort)256, ushort.MaxValue) >= 0;
        int bytesPerPixel = wide ? 2 : 1;
        int rowBytes = 1 + width * bytesPerPixel;
        var row = ArrayPool<byte>.Shared.Rent(rowBytes);
        try
        {
            using var idat = new MemoryStream();
            using (var zlib = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
            {
                row[0] = 0;
                for (int y = 0; y < height; y++)
                {
                    var source = ids.Slice(y * width, width);
                    if (wide)
                    {
                        for (int x = 0; x < width; x++)
                            BinaryPrimitives.WriteUInt16BigEndian(row.AsSpan(1 + 2 * x), source[x]);
                    }
                    else
                    {
                        for (int x = 0; x < width; x++)
                            row[1 + x] = (byte)source[x];
                    }
                    zlib.Write(row, 0, rowBytes);
                }
            }
            return Assemble(width, height, bitDepth: wide ? 16 : 8, ColorGray, idat);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(row);
        }
    }

    /// <summary>Decodes the raw pixel values of a PNG (see the class remarks for what a value is per PNG kind).</summary>
    /// <param name="maxPixels">Width*height limit, checked from the header before anything is inflated.</param>
    /// <exception cref="InvalidInputException">Not a PNG, corrupt or truncated, interlaced, or over the pixel limit.</exception>
    public static LabelMap Decode(ReadOnlySpan<byte> png, long maxPixels)
    {
        var header = ReadStart(png, out int offset);

        long pixels = (long)header.Width * header.Height;
        if (pixels > maxPixels)
            throw new InvalidInputException($"mask PNG is {header.Width}x{header.Height} = {pixels} pixels, over the limit of {maxPixels}");

        // Locate the IDAT chunks first (checking every CRC), then copy them into one zlib stream.
        var idats = new List<(int Offset, int Length)>();
        int compressedLength = 0;
        while (offset < png.Length)
        {
            int chunkStart = offset;
            var chunk = PngChunks.Read(png, ref offset);
            if (chunk.Is("IEND"))
                break;
            if (chunk.Is("IDAT"))
            {
                idats.Add((chunkStart + 8, chunk.Data.Length));
                compressedLength += chunk.Data.Length;
            }
            // PLTE and every ancillary chunk are irrelevant to raw values.
        }
        if (idats.Count == 0)
            throw new InvalidInputException("mask PNG has no image data (no IDAT chunk)");

        int rowBytes = (int)((header.Width * (long)header.BitsPerPixel + 7) / 8);
        long rawLength = header.Height * (1L + rowBytes);
        if (rawLength > Array.MaxLength)
            throw new InvalidInputException($"mask PNG is {header.Width}x{header.Height} at {header.BitsPerPixel} bits per pixel, too large to decode");

        var compressed = ArrayPool<byte>.Shared.Rent(Math.Max(compressedLength, 1));
        var raw = ArrayPool<byte>.Shared.Rent((int)rawLength);
        try
        {
            int at = 0;
            foreach (var (start, length) in idats)
            {
                png.Slice(start, length).CopyTo(compressed.AsSpan(at));
                at += length;
            }
            Inflate(compressed, compressedLength, raw.AsSpan(0, (int)rawLength));
            Unfilter(raw.AsSpan(0, (int)rawLength), header.Height, rowBytes, Math.Max(1, header.BitsPerPixel / 8));
            var values = new ushort[pixels];
            ExtractValues(raw, header, rowBytes, values);
            return new LabelMap(header.Width, header.Height, values);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>
    /// The width and height a mask PNG's header declares, read (and the header checked, as
    /// <see cref="Decode"/> does) without inflating anything: callers check the size against
    /// their frame before paying for a decode.
    /// </summary>
    /// <exception cref="InvalidInputException">Not a PNG, or its IHDR chunk is missing, corrupt or invalid.</exception>
    public static (int Width, int Height) ReadSize(ReadOnlySpan<byte> png)
    {
        var header = ReadStart(png, out _);
        return (header.Width, header.Height);
    }

    // ---- writing -----------------------------------------------------------------

    private static void CheckSize(int length, int height, int width, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (length != (long)height * width)
            throw new ArgumentException($"{name} has {length} values, {height}x{width} needs {(long)height * width}", name);
    }

    private static byte[] Assemble(int width, int height, int bitDepth, byte colorType, MemoryStream idat)
    {
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = colorType;
        ihdr[10] = 0; // compression: deflate
        ihdr[11] = 0; // filter method: adaptive
        ihdr[12] = 0; // no interlace

        var data = idat.GetBuffer().AsSpan(0, (int)idat.Length);
        var png = new byte[PngChunks.Signature.Length + PngChunks.Size(13) + PngChunks.Size(data.Length) + PngChunks.Size(0)];
        var span = png.AsSpan();
        PngChunks.Signature.CopyTo(span);
        int at = PngChunks.Signature.Length;
        at += PngChunks.Write(span[at..], "IHDR", ihdr);
        at += PngChunks.Write(span[at..], "IDAT", data);
        PngChunks.Write(span[at..], "IEND", []);
        return png;
    }

    // ---- reading -----------------------------------------------------------------

    private readonly record struct Header(int Width, int Height, int BitDepth, byte ColorType)
    {
        public int Channels => ColorType switch
        {
            ColorRgb => 3,
            ColorGrayAlpha => 2,
            ColorRgba => 4,
            _ => 1,
        };

        public int BitsPerPixel => BitDepth * Channels;
    }

    /// <summary>Checks the signature and reads the IHDR chunk after it; leaves <paramref name="offset"/> past the IHDR.</summary>
    private static Header ReadStart(ReadOnlySpan<byte> png, out int offset)
    {
        if (!png.StartsWith(PngChunks.Signature))
            throw new InvalidInputException("mask bytes are not a PNG (the PNG signature is missing)");
        offset = PngChunks.Signature.Length;
        return ReadHeader(png, ref offset);
    }

    private static Header ReadHeader(ReadOnlySpan<byte> png, ref int offset)
    {
        var chunk = PngChunks.Read(png, ref offset);
        if (!chunk.Is("IHDR") || chunk.Data.Length != 13)
            throw new InvalidInputException("mask PNG does not start with a valid IHDR chunk");
        var d = chunk.Data;
        uint width = BinaryPrimitives.ReadUInt32BigEndian(d);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
        byte bitDepth = d[8], colorType = d[9], compression = d[10], filter = d[11], interlace = d[12];

        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
            throw new InvalidInputException($"mask PNG has an invalid size {width}x{height}");
        bool supported = colorType switch
        {
            ColorGray => bitDepth is 1 or 2 or 4 or 8 or 16,
            ColorPalette => bitDepth is 1 or 2 or 4 or 8,
            ColorRgb or ColorGrayAlpha or ColorRgba => bitDepth is 8 or 16,
            _ => false,
        };
        if (!supported)
            throw new InvalidInputException($"mask PNG has an invalid colour type {colorType} with bit depth {bitDepth}");
        if (compression != 0 || filter != 0)
            throw new InvalidInputException($"mask PNG has an unknown compression ({compression}) or filter method ({filter})");
        if (interlace != 0)
            throw new InvalidInputException("mask PNG is interlaced (Adam7), which is not supported: save it without interlacing");
        return new Header((int)width, (int)height, bitDepth, colorType);
    }

    private static void Inflate(byte[] compressed, int length, Span<byte> raw)
    {
        try
        {
            using var input = new MemoryStream(compressed, 0, length, writable: false);
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            int read = zlib.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
            if (read < raw.Length)
                throw new InvalidInputException($"mask PNG image data is truncated: {read} of {raw.Length} bytes");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidInputException($"mask PNG image data is not valid zlib data: {e.Message}");
        }
    }

    /// <summary>Undoes the per-row filters in place (PNG spec section 9).</summary>
    private static void Unfilter(Span<byte> raw, int height, int rowBytes, int bytesPerPixel)
    {
        int stride = rowBytes + 1;
        Span<byte> previous = [];
        for (int y = 0; y < height; y++)
        {
            var line = raw.Slice(y * stride, stride);
            byte filter = line[0];
            var current = line[1..];
            switch (filter)
            {
                case 0:
                    break;
                case 1: // Sub
                    for (int i = bytesPerPixel; i < current.Length; i++)
                        current[i] += current[i - bytesPerPixel];
                    break;
                case 2: // Up
                    if (y > 0)
                        for (int i = 0; i < current.Length; i++)
                            current[i] += previous[i];
                    break;
                case 3: // Average
                    for (int i = 0; i < current.Length; i++)
                    {
                        int left = i >= bytesPerPixel ? current[i - bytesPerPixel] : 0;
                        int up = y > 0 ? previous[i] : 0;
                        current[i] += (byte)((left + up) >> 1);
                    }
                    break;
                case 4: // Paeth
                    for (int i = 0; i < current.Length; i++)
                    {
                        int left = i >= bytesPerPixel ? current[i - bytesPerPixel] : 0;
                        int up = y > 0 ? previous[i] : 0;
                        int upLeft = y > 0 && i >= bytesPerPixel ? previous[i - bytesPerPixel] : 0;
                        current[i] += (byte)Paeth(left, up, upLeft);
                    }
                    break;
                default:
                    throw new InvalidInputException($"mask PNG row {y} has an invalid filter type {filter}");
            }
            previous = current;
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc)
            return a;
        return pb <= pc ? b : c;
    }

    private static void ExtractValues(byte[] raw, Header header, int rowBytes, ushort[] values)
    {
        int width = header.Width;
        int depth = header.BitDepth;
        for (int y = 0; y < header.Height; y++)
        {
            var line = raw.AsSpan(y * (rowBytes + 1) + 1, rowBytes);
            var output = values.AsSpan(y * width, width);
            switch (header.ColorType)
            {
                case ColorGray or ColorPalette when depth < 8:
                    {
                        // Samples are packed from the most significant bits of each byte.
                        int perByte = 8 / depth;
                        int sampleMask = (1 << depth) - 1;
                        for (int x = 0; x < width; x++)
                        {
                            int shift = 8 - depth * (x % perByte + 1);
                            output[x] = (ushort)((line[x / perByte] >> shift) & sampleMask);
                        }
                        break;
                    }
                case ColorGray or ColorPalette or ColorGrayAlpha:
                    {
                        // For gray+alpha the gray sample is the value and alpha is skipped.
                        int step = header.Channels * (depth / 8);
                        for (int x = 0; x < width; x++)
                            output[x] = depth == 16 ? BinaryPrimitives.ReadUInt16BigEndian(line[(x * step)..]) : line[x * step];
                        break;
                    }
                default: // RGB / RGBA: binary, any non-zero colour sample
                    {
                        int sampleBytes = depth / 8;
                        int step = header.Channels * sampleBytes;
                        int colourBytes = 3 * sampleBytes;
                        for (int x = 0; x < width; x++)
                            output[x] = line.Slice(x * step, colourBytes).IndexOfAnyExcept((byte)0) >= 0 ? (ushort)1 : (ushort)0;
                        break;
                    }
            }
        }
    }
}
