using System.Buffers.Binary;
using OpenCvSharp;

namespace SineGrpc.Engine.Imaging;

/// <summary>
/// Turns caller images (encoded JPEG/PNG/WebP or raw RGB/BGR pixels) into BGR CV_8UC3 Mats,
/// enforcing the pixel limit before any decoding work is done.
/// </summary>
public static class ImageDecoder
{
    private const string NotAnImage = "image bytes are not JPEG, PNG or WebP";

    /// <summary>Reads the pixel size of a JPEG, PNG or WebP from its headers, without decoding it.</summary>
    /// <exception cref="InvalidInputException">The bytes are none of these formats, or the header is truncated or invalid.</exception>
    public static (int Width, int Height) ReadSize(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length >= 3 && encoded[0] == 0xFF && encoded[1] == 0xD8 && encoded[2] == 0xFF)
            return ReadJpegSize(encoded);
        if (encoded.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
            return ReadPngSize(encoded);
        if (encoded.Length >= 12 && encoded[..4].SequenceEqual("RIFF"u8) && encoded.Slice(8, 4).SequenceEqual("WEBP"u8))
            return ReadWebPSize(encoded);
        throw new InvalidInputException(NotAnImage);
    }

    /// <summary>Decodes a JPEG, PNG or WebP to a BGR CV_8UC3 Mat (gray is expanded, alpha dropped, EXIF orientation ignored).</summary>
    /// <param name="maxPixels">Width*height limit, checked from the header before decoding.</param>
    /// <exception cref="InvalidInputException">Unknown format, over the limit, or undecodable.</exception>
    public static Mat Decode(ReadOnlySpan<byte> encoded, long maxPixels)
    {
        var (width, height) = ReadSize(encoded);
        CheckLimit(width, height, maxPixels);

        // IgnoreOrientation: the pixel grid must stay the one the header describes (and the one
        // the caller's masks are drawn on), as PIL and the reference data loaders read it.
        var mat = Cv2.ImDecode(encoded, ImreadModes.Color | ImreadModes.IgnoreOrientation);
        if (mat is null || mat.Empty())
        {
            mat?.Dispose();
            throw new InvalidInputException($"image bytes could not be decoded as JPEG/PNG/WebP: the {width}x{height} image is truncated, corrupt or uses an unsupported variant");
        }
        if (mat.Type() != MatType.CV_8UC3)
        {
            // IMREAD_COLOR already gives 8-bit BGR; this only guards against a surprise.
            using var original = mat;
            mat = new Mat();
            original.ConvertTo(mat, MatType.CV_8UC3);
        }
        return mat;
    }

    /// <summary>Copies raw interleaved 8-bit pixels (RGB or BGR) into a new BGR CV_8UC3 Mat.</summary>
    /// <param name="stride">Bytes from one row to the next; 0 means tightly packed (width*3).</param>
    /// <exception cref="InvalidInputException">Bad size, stride or data length, or over the limit.</exception>
    public static Mat FromRaw(ReadOnlySpan<byte> data, int width, int height, int stride, bool bgr, long maxPixels)
    {
        var mat = new Mat();
        try
        {
            FromRaw(data, width, height, stride, bgr, maxPixels, mat);
            return mat;
        }
        catch
        {
            mat.Dispose();
            throw;
        }
    }

    /// <summary>
    /// As <see cref="FromRaw(ReadOnlySpan{byte}, int, int, int, bool, long)"/>, into a caller-owned
    /// Mat that is reallocated only when the frame size changes (no per-frame allocation).
    /// </summary>
    public static void FromRaw(ReadOnlySpan<byte> data, int width, int height, int stride, bool bgr, long maxPixels, Mat destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (width <= 0 || height <= 0)
            throw new InvalidInputException($"raw image size {width}x{height} must be positive");
        CheckLimit(width, height, maxPixels);
        long rowBytes = width * 3L;
        if (stride == 0)
            stride = (int)Math.Min(rowBytes, int.MaxValue);
        if (stride < rowBytes)
            throw new InvalidInputException($"raw image stride {stride} is less than width x 3 = {rowBytes} bytes");
        long needed = (long)stride * (height - 1) + rowBytes;
        if (data.Length < needed)
            throw new InvalidInputException($"raw image has {data.Length} bytes, a {width}x{height} image with stride {stride} needs at least {needed}");

        destination.Create(height, width, MatType.CV_8UC3);
        unsafe
        {
            byte* target = (byte*)destination.DataPointer;
            long targetStep = destination.Step();
            for (int y = 0; y < height; y++)
                data.Slice(y * stride, (int)rowBytes).CopyTo(new Span<byte>(target + y * targetStep, (int)rowBytes));
        }
        if (!bgr)
            Cv2.CvtColor(destination, destination, ColorConversionCodes.RGB2BGR);
    }

    private static void CheckLimit(int width, int height, long maxPixels)
    {
        long pixels = (long)width * height;
        if (pixels > maxPixels)
            throw new InvalidInputException($"image is {width}x{height} = {pixels} pixels, over the limit of {maxPixels}");
    }

    private static (int Width, int Height) ReadPngSize(ReadOnlySpan<byte> png)
    {
        // Signature (8), then the IHDR chunk: length (4), "IHDR" (4), width (4), height (4).
        if (png.Length < 24 || !png.Slice(12, 4).SequenceEqual("IHDR"u8))
            throw new InvalidInputException("PNG image is truncated or does not start with an IHDR chunk");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(png[16..]);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(png[20..]);
        return Checked(width, height, "PNG");
    }

    private static (int Width, int Height) ReadJpegSize(ReadOnlySpan<byte> jpeg)
    {
        // Walk the marker segments after SOI until a start-of-frame (SOFn) gives the size.
        int p = 2;
        while (true)
        {
            // Markers are 0xFF then a code; any number of 0xFF fill bytes may come first.
            if (p >= jpeg.Length || jpeg[p] != 0xFF)
                throw new InvalidInputException("JPEG image is truncated or corrupt: no frame header (SOF) found");
            while (p < jpeg.Length && jpeg[p] == 0xFF)
                p++;
            if (p >= jpeg.Length)
                throw new InvalidInputException("JPEG image is truncated: no frame header (SOF) found");
            byte marker = jpeg[p++];

            // Stand-alone markers carry no length.
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
                continue;
            if (marker is 0xD9 or 0xDA)
                throw new InvalidInputException("JPEG image has no frame header (SOF) before its image data");
            if (p + 2 > jpeg.Length)
                throw new InvalidInputException("JPEG image is truncated inside a marker segment");
            int length = BinaryPrimitives.ReadUInt16BigEndian(jpeg[p..]);
            if (length < 2)
                throw new InvalidInputException("JPEG image has a marker segment with an invalid length");

            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                // length (2), precision (1), height (2), width (2).
                if (p + 7 > jpeg.Length)
                    throw new InvalidInputException("JPEG image is truncated inside its frame header");
                int height = BinaryPrimitives.ReadUInt16BigEndian(jpeg[(p + 3)..]);
                int width = BinaryPrimitives.ReadUInt16BigEndian(jpeg[(p + 5)..]);
                if (height == 0)
                    throw new InvalidInputException("JPEG image declares its height later (DNL marker), which is not supported");
                return Checked((uint)width, (uint)height, "JPEG");
            }
            p += length;
        }
    }

    private static (int Width, int Height) ReadWebPSize(ReadOnlySpan<byte> webp)
    {
        // RIFF (4) size (4) WEBP (4), then the first chunk: fourcc (4) size (4) data.
        if (webp.Length < 30)
            throw new InvalidInputException("WebP image is truncated");
        var fourcc = webp.Slice(12, 4);
        var data = webp[20..];
        if (fourcc.SequenceEqual("VP8 "u8))
        {
            // Lossy: 3-byte frame tag, start code 9D 01 2A, then 14-bit width and height (LE).
            if (data[3] != 0x9D || data[4] != 0x01 || data[5] != 0x2A)
                throw new InvalidInputException("WebP (lossy) image has an invalid VP8 start code");
            uint width = BinaryPrimitives.ReadUInt16LittleEndian(data[6..]) & 0x3FFFu;
            uint height = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]) & 0x3FFFu;
            return Checked(width, height, "WebP");
        }
        if (fourcc.SequenceEqual("VP8L"u8))
        {
            // Lossless: signature 0x2F, then 14 bits width-1 and 14 bits height-1, LSB first.
            if (data[0] != 0x2F)
                throw new InvalidInputException("WebP (lossless) image has an invalid VP8L signature");
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(data[1..]);
            return Checked((bits & 0x3FFFu) + 1, ((bits >> 14) & 0x3FFFu) + 1, "WebP");
        }
        if (fourcc.SequenceEqual("VP8X"u8))
        {
            // Extended: flags (1), reserved (3), canvas width-1 (24 bits LE), canvas height-1 (24 bits LE).
            uint width = (uint)(data[4] | data[5] << 8 | data[6] << 16) + 1;
            uint height = (uint)(data[7] | data[8] << 8 | data[9] << 16) + 1;
            return Checked(width, height, "WebP");
        }
        throw new InvalidInputException("WebP image has an unknown first chunk (expected VP8, VP8L or VP8X)");
    }

    private static (int Width, int Height) Checked(uint width, uint height, string format)
    {
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
            throw new InvalidInputException($"{format} image declares an invalid size {width}x{height}");
        return ((int)width, (int)height);
    }
}
