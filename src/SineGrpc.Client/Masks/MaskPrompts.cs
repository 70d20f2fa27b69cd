using Google.Protobuf;
using OpenCvSharp;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Png;
using Sine.V1;

namespace SineGrpc.Client.Masks;

/// <summary>Turns mask PNG files into Track prompts.</summary>
internal static class MaskPrompts
{
    public static Prompt FromFile(string path)
    {
        byte[] png;
        try
        {
            png = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read mask {path}: {ex.Message}", ex);
        }
        return FromPng(png, path);
    }

    /// <summary>
    /// Refuses, before anything is sent, a mask whose object ids the CLI's 8-bit output masks
    /// cannot hold. Only 16-bit masks can hold such ids, so only they are read whole and decoded.
    /// </summary>
    public static void CheckIdsFit(string path)
    {
        PngHeader header;
        try
        {
            header = PngHeader.ReadFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read mask {path}: {ex.Message}", ex);
        }
        catch (InvalidDataException ex)
        {
            throw new CliException($"mask {ex.Message}");
        }
        if (header is { ColourType: PngColourType.Grayscale, BitDepth: 16 })
        {
            FromFile(path);
        }
    }

    /// <summary>
    /// A prompt that sends the PNG as it is. Palette and grayscale PNGs go as index masks
    /// (object_id 0: every non-zero pixel value is an object id), except the common binary grayscale
    /// masks, 0 and 255 only (or 0 and 65535 at 16 bits), which would otherwise become object 255
    /// (or be refused): they are sent as object 1.
    /// </summary>
    public static Prompt FromPng(byte[] png, string displayName)
    {
        PngHeader header;
        try
        {
            header = PngHeader.Read(png);
        }
        catch (InvalidDataException ex)
        {
            throw new CliException($"mask {displayName}: {ex.Message}");
        }

        uint objectId = (header.ColourType, header.BitDepth) switch
        {
            (PngColourType.Palette, 8) => 0,
            (PngColourType.Grayscale, 16) => SixteenBitObjectId(png, displayName),
            (PngColourType.Grayscale, 8) => IsBinary255(png, displayName) ? 1u : 0u,
            _ => throw new CliException(
                $"mask {displayName} is a {header.BitDepth}-bit {Describe(header.ColourType)} PNG; " +
                "masks must be 8-bit palette, 8-bit grayscale or 16-bit grayscale PNGs whose pixel values are object ids"),
        };

        return new Prompt
        {
            ObjectId = objectId,
            Mask = new Mask { Png = ByteString.CopyFrom(png) },
        };
    }

    /// <summary>
    /// The prompt's object_id for a 16-bit grayscale mask: 0 (an index mask) when every id fits
    /// the 8-bit palette PNGs the CLI writes, 1 for a 0/65535 mask. Any other id above 255 is
    /// refused: the server would track it, but every output PNG would leave it out.
    /// </summary>
    private static uint SixteenBitObjectId(byte[] png, string displayName)
    {
        using var image = Cv2.ImDecode(png, ImreadModes.Unchanged);
        if (image.Empty() || image.Type() != MatType.CV_16UC1)
        {
            throw new CliException($"mask {displayName} could not be decoded as a 16-bit grayscale PNG");
        }
        ushort largest = 0;
        var binary = true;
        foreach (var value in image.AsSpan<ushort>())
        {
            largest = Math.Max(largest, value);
            binary &= value is 0 or ushort.MaxValue;
        }
        if (largest <= IndexMaskComposer.MaxObjectId)
        {
            return 0;
        }
        if (binary)
        {
            return 1;
        }
        throw new UsageException(
            $"mask {displayName} holds object id {largest}, but the 8-bit DAVIS palette PNGs the CLI writes hold ids 1-255; " +
            "number the objects from 1 to 255 (a 16-bit mask of only 0 and 65535 is object 1)");
    }

    /// <summary>Whether 255 is the only non-zero value of an 8-bit grayscale PNG.</summary>
    private static bool IsBinary255(byte[] png, string displayName)
    {
        using var image = Cv2.ImDecode(png, ImreadModes.Unchanged);
        if (image.Empty() || image.Type() != MatType.CV_8UC1)
        {
            throw new CliException($"mask {displayName} could not be decoded as an 8-bit grayscale PNG");
        }
        var seen255 = false;
        foreach (var value in image.AsSpan<byte>())
        {
            if (value == 255)
            {
                seen255 = true;
            }
            else if (value != 0)
            {
                return false;
            }
        }
        return seen255;
    }

    private static string Describe(PngColourType type) => type switch
    {
        PngColourType.Grayscale => "grayscale",
        PngColourType.Rgb => "RGB",
        PngColourType.Palette => "palette",
        PngColourType.GrayscaleAlpha => "grayscale+alpha",
        PngColourType.Rgba => "RGBA",
        _ => $"colour type {(int)type}",
    };
}
