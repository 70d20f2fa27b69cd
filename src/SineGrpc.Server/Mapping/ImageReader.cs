using OpenCvSharp;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Imaging;

namespace SineGrpc.Server.Mapping;

/// <summary>Turns an API <see cref="Image"/> into BGR pixels, enforcing the pixel limit before decoding.</summary>
internal static class ImageReader
{
    /// <param name="rawDestination">
    /// Where raw pixels are copied (and what is returned for them), reallocated only when the
    /// size changes; null for a new Mat. Encoded images always get a new Mat from the codec.
    /// </param>
    /// <param name="what">Names the image in error messages ("frame 3", "reference 0", "target"): a Segment call has several.</param>
    public static Mat Read(Image? image, string what, long maxPixels, Mat? rawDestination = null)
    {
        try
        {
            return Read(image, maxPixels, rawDestination);
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"{what}: {e.Message}");
        }
    }

    private static Mat Read(Image? image, long maxPixels, Mat? rawDestination)
    {
        switch (image?.SourceCase)
        {
            case Image.SourceOneofCase.Encoded:
                if (image.Encoded.IsEmpty)
                    throw new InvalidInputException("image.encoded is empty");
                return ImageDecoder.Decode(image.Encoded.Span, maxPixels);
            case Image.SourceOneofCase.Raw:
                return ReadRaw(image.Raw, maxPixels, rawDestination);
            default:
                throw new InvalidInputException("image is required (set image.encoded or image.raw)");
        }
    }

    private static Mat ReadRaw(RawImage raw, long maxPixels, Mat? destination)
    {
        if (raw.Format is not (PixelFormat.Rgb24 or PixelFormat.Bgr24))
        {
            throw new InvalidInputException(raw.Format == PixelFormat.Unspecified
                ? "image.raw.format is required (PIXEL_FORMAT_RGB24 or PIXEL_FORMAT_BGR24)"
                : $"image.raw.format {(int)raw.Format} is not supported (PIXEL_FORMAT_RGB24 or PIXEL_FORMAT_BGR24)");
        }
        // The wire's uint32 sizes can exceed what the engine (and OpenCV) take. No such image can
        // be valid: it is over any pixel limit, or its rows would not fit in one message.
        if (raw.Width > int.MaxValue || raw.Height > int.MaxValue)
            throw new InvalidInputException($"raw image size {raw.Width}x{raw.Height} is over the limit of {maxPixels} pixels");
        if (raw.Stride > int.MaxValue)
            throw new InvalidInputException($"raw image stride {raw.Stride} is more bytes than a frame's data can hold");
        var bgr = raw.Format == PixelFormat.Bgr24;
        if (destination is null)
            return ImageDecoder.FromRaw(raw.Data.Span, (int)raw.Width, (int)raw.Height, (int)raw.Stride, bgr, maxPixels);
        ImageDecoder.FromRaw(raw.Data.Span, (int)raw.Width, (int)raw.Height, (int)raw.Stride, bgr, maxPixels, destination);
        return destination;
    }
}
