using Google.Protobuf;
using OpenCvSharp;
using SineGrpc.Client.Cli;
using Sine.V1;

namespace SineGrpc.Client.Frames;

/// <summary>Packs frames into the API's Image message in the chosen encoding.</summary>
internal sealed class FrameEncoder(FrameEncoding encoding, int jpegQuality)
{
    public Image Encode(SourceFrame frame) => encoding switch
    {
        // A file already in the wanted format goes as it is: no second lossy JPEG pass, no CPU spent.
        FrameEncoding.Jpeg when frame.FileFormat == FileFormat.Jpeg => Encoded(frame.FileBytes!),
        FrameEncoding.Png when frame.FileFormat == FileFormat.Png => Encoded(frame.FileBytes!),
        FrameEncoding.Jpeg => Encoded(Compress(frame.Image, ".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, jpegQuality))),
        FrameEncoding.Png => Encoded(Compress(frame.Image, ".png", new ImageEncodingParam(ImwriteFlags.PngCompression, 1))),
        FrameEncoding.Raw => new Image { Raw = ToRaw(frame.Image) },
        _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
    };

    private static Image Encoded(byte[] bytes) => new() { Encoded = ByteString.CopyFrom(bytes) };

    private static byte[] Compress(Mat image, string extension, ImageEncodingParam parameter)
    {
        Cv2.ImEncode(extension, image, out var bytes, parameter);
        return bytes;
    }

    private static unsafe RawImage ToRaw(Mat image)
    {
        if (image.Type() != MatType.CV_8UC3)
        {
            throw new InvalidOperationException($"expected 8-bit BGR frames, got {image.Type()}");
        }
        var stride = checked((int)image.Step());
        // Rows may be padded: every row but the last takes `stride` bytes, the last only its pixels.
        var length = checked(stride * (image.Rows - 1) + image.Cols * 3);
        return new RawImage
        {
            Width = (uint)image.Cols,
            Height = (uint)image.Rows,
            Stride = (uint)stride,
            Format = PixelFormat.Bgr24,
            Data = ByteString.CopyFrom(new ReadOnlySpan<byte>((void*)image.Data, length)),
        };
    }
}
