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
    /// A prompt that sends the PNG as it is. Palette and grayscale PNGs go as index masks
    /// (object_id 0: every non-zero pixel value is an object id), except the common binary grayscale
    /// mask, 0 and 255 only, which would otherwise become object 255: it is sent as object 1.
    /// </summary>
    public static Prompt FromPng(byte[] png, string displayName)
    {
        PngHeader header;
        try
        {
            header = PngHeader.Read(png);
        }
        catch (InvalidDataException)
        {
            throw new CliException($"mask {displayName} is not a PNG file");
        }

        uint objectId = (header.ColourType, header.BitDepth) switch
        {
            (PngColourType.Palette, 8) => 0,
            (PngColourType.Grayscale, 16) => 0,
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
