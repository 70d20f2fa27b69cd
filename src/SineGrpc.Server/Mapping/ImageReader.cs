using OpenCvSharp;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Imaging;

namespace SineGrpc.Server.Mapping;

/// <summary>Turns an API <see cref="Image"/> into BGR pixels, enforcing the pixel limit before decoding.</summary>
internal static class ImageReader
{
    public static Mat Read(Image? image, string what, long maxPixels)
    {
        switch (image?.SourceCase)
        {
            case Image.SourceOneofCase.Encoded:
                if (image.Encoded.IsEmpty)
                    throw new InvalidInputException($"{what}: image.encoded is empty");
                return ImageDecoder.Decode(image.Encoded.Span, maxPixels);
            case Image.SourceOneofCase.Raw:
                var raw = image.Raw;
                if (raw.Format == PixelFormat.Unspecified)
                    throw new InvalidInputException($"{what}: image.raw.format is required (PIXEL_FORMAT_RGB24 or PIXEL_FORMAT_BGR24)");
                return ImageDecoder.FromRaw(raw.Data.Span, checked((int)raw.Width), checked((int)raw.Height), checked((int)raw.Stride),
                    bgr: raw.Format == PixelFormat.Bgr24, maxPixels);
            default:
                throw new InvalidInputException($"{what}: image is required (set image.encoded or image.raw)");
        }
    }
}
