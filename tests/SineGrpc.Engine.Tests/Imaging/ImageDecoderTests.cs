using System.Buffers.Binary;
using OpenCvSharp;
using SineGrpc.Engine.Imaging;

namespace SineGrpc.Engine.Tests.Imaging;

public class ImageDecoderTests
{
    private const long Unlimited = long.MaxValue;

    private static Mat TestImage(int width, int height)
    {
        var mat = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(mat, Scalar.All(0), Scalar.All(255));
        return mat;
    }

    public static TheoryData<string, int, int> Encodings => new()
    {
        { ".jpg", -1, -1 },
        { ".jpg", (int)ImwriteFlags.JpegProgressive, 1 }, // SOF2
        { ".png", -1, -1 },
        { ".webp", (int)ImwriteFlags.WebPQuality, 80 },   // lossy: VP8
        { ".webp", (int)ImwriteFlags.WebPQuality, 101 },  // lossless: VP8L
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Reads_the_size_of_opencv_encoded_images(string extension, int flag, int value)
    {
        using var image = TestImage(37, 23);
        int[] parameters = flag < 0 ? [] : [flag, value];
        Assert.True(Cv2.ImEncode(extension, image, out var encoded, parameters));
        Assert.Equal((37, 23), ImageDecoder.ReadSize(encoded));

        using var decoded = ImageDecoder.Decode(encoded, Unlimited);
        Assert.Equal(MatType.CV_8UC3, decoded.Type());
        Assert.Equal((37, 23), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void Reads_the_canvas_size_of_an_extended_webp_header()
    {
        // VP8X: canvas width-1 and height-1 as 24-bit little-endian: 4999 = 87 13 00, 2999 = B7 0B 00.
        var webp = ExtendedWebPHeader(5000, 3000);
        Assert.Equal((5000, 3000), ImageDecoder.ReadSize(webp));
    }

    [Fact]
    public void Png_lossless_decode_and_gray_expansion()
    {
        using var image = TestImage(5, 4);
        Cv2.ImEncode(".png", image, out var png);
        using var decoded = ImageDecoder.Decode(png, Unlimited);
        Assert.Equal(0, Cv2.Norm(image, decoded, NormTypes.INF));

        using var gray = new Mat(2, 3, MatType.CV_8UC1, Scalar.All(77));
        Cv2.ImEncode(".png", gray, out var grayPng);
        using var expanded = ImageDecoder.Decode(grayPng, Unlimited);
        Assert.Equal(MatType.CV_8UC3, expanded.Type());
        Assert.Equal(new Vec3b(77, 77, 77), expanded.At<Vec3b>(1, 2));

        using var bgra = new Mat(2, 2, MatType.CV_8UC4, new Scalar(1, 2, 3, 4));
        Cv2.ImEncode(".png", bgra, out var bgraPng);
        using var opaque = ImageDecoder.Decode(bgraPng, Unlimited);
        Assert.Equal(MatType.CV_8UC3, opaque.Type());
        Assert.Equal(new Vec3b(1, 2, 3), opaque.At<Vec3b>(0, 0));
    }

    [Fact]
    public void Garbage_is_rejected()
    {
        var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.ReadSize("hello, world"u8));
        Assert.Equal("image bytes are not JPEG, PNG or WebP", e.Message);
        e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode([], Unlimited));
        Assert.Equal("image bytes are not JPEG, PNG or WebP", e.Message);
        Assert.Throws<InvalidInputException>(() => ImageDecoder.ReadSize([0xFF, 0xD8, 0xFF]));
        Assert.Throws<InvalidInputException>(() => ImageDecoder.ReadSize("RIFF\0\0\0\0WEBPVP8 "u8));
    }

    [Fact]
    public void Over_limit_is_rejected_from_the_header_without_decoding()
    {
        // Header only: if it were decoded, the error would be "could not be decoded".
        var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode(ExtendedWebPHeader(5000, 3000), 1_000_000));
        Assert.Equal("image is 5000x3000 = 15000000 pixels, over the limit of 1000000", e.Message);

        using var image = TestImage(37, 23);
        Cv2.ImEncode(".jpg", image, out var jpeg);
        e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode(jpeg, 37 * 23 - 1));
        Assert.Equal("image is 37x23 = 851 pixels, over the limit of 850", e.Message);
        using var exact = ImageDecoder.Decode(jpeg, 37 * 23);
    }

    [Fact]
    public void Undecodable_body_is_rejected()
    {
        // A valid PNG signature and IHDR but no image data.
        var png = new byte[33];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R' }.CopyTo(png, 0);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 4);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 4);
        png[24] = 8;
        png[25] = 2;
        Assert.Equal((4, 4), ImageDecoder.ReadSize(png));
        var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode(png, Unlimited));
        Assert.StartsWith("image bytes could not be decoded as JPEG/PNG/WebP", e.Message);
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Truncated_image_data_is_rejected(string extension, int flag, int value)
    {
        // A frame cut short in transit: the header is whole, the compressed data is not.
        // Decoders would fill the missing part with grey; the service must say so instead.
        using var image = TestImage(64, 48);
        int[] parameters = flag < 0 ? [] : [flag, value];
        Assert.True(Cv2.ImEncode(extension, image, out var encoded, parameters));
        foreach (double kept in new[] { 0.3, 0.6, 0.9 })
        {
            var truncated = encoded.AsSpan(0, (int)(encoded.Length * kept)).ToArray();
            Assert.Equal((64, 48), ImageDecoder.ReadSize(truncated));

            var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode(truncated, Unlimited));
            Assert.StartsWith("image bytes could not be decoded", e.Message);
        }
    }

    [Fact]
    public void Jpeg_with_bytes_after_its_end_marker_is_accepted()
    {
        // Some cameras append data after EOI; the image itself is whole.
        using var image = TestImage(37, 23);
        Cv2.ImEncode(".jpg", image, out var jpeg);
        using var decoded = ImageDecoder.Decode([.. jpeg, 0x00, 0x12, 0xFF, 0x34], Unlimited);
        Assert.Equal((37, 23), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void Raw_rgb_with_row_padding_becomes_bgr()
    {
        // 2x2 RGB, stride 8 (2 padding bytes per row).
        byte[] data =
        [
            1, 2, 3, 4, 5, 6, 99, 99,
            7, 8, 9, 10, 11, 12, 99, 99,
        ];
        using var rgb = ImageDecoder.FromRaw(data, 2, 2, 8, bgr: false, Unlimited);
        Assert.Equal(MatType.CV_8UC3, rgb.Type());
        Assert.Equal(new Vec3b(3, 2, 1), rgb.At<Vec3b>(0, 0));
        Assert.Equal(new Vec3b(12, 11, 10), rgb.At<Vec3b>(1, 1));

        using var bgr = ImageDecoder.FromRaw(data, 2, 2, 8, bgr: true, Unlimited);
        Assert.Equal(new Vec3b(1, 2, 3), bgr.At<Vec3b>(0, 0));

        // Stride 0 = packed; the last row needs no padding after it.
        using var packed = ImageDecoder.FromRaw(data.AsSpan(0, 12), 2, 2, 0, bgr: true, Unlimited);
        Assert.Equal(new Vec3b(4, 5, 6), packed.At<Vec3b>(0, 1));
        Assert.Equal(new Vec3b(99, 99, 7), packed.At<Vec3b>(1, 0));

        // Into a reused Mat.
        using var reused = new Mat();
        ImageDecoder.FromRaw(data, 2, 2, 8, bgr: false, Unlimited, reused);
        ImageDecoder.FromRaw(data, 2, 2, 8, bgr: false, Unlimited, reused);
        Assert.Equal(new Vec3b(9, 8, 7), reused.At<Vec3b>(1, 0));
    }

    [Fact]
    public void Raw_input_is_validated()
    {
        var data = new byte[16];
        Assert.Equal("raw image stride 5 is less than width x 3 = 6 bytes",
            Assert.Throws<InvalidInputException>(() => ImageDecoder.FromRaw(data, 2, 2, 5, true, Unlimited)).Message);
        Assert.Equal("raw image has 13 bytes, a 2x2 image with stride 8 needs at least 14",
            Assert.Throws<InvalidInputException>(() => ImageDecoder.FromRaw(data.AsSpan(0, 13), 2, 2, 8, true, Unlimited)).Message);
        Assert.Throws<InvalidInputException>(() => ImageDecoder.FromRaw(data, 0, 2, 0, true, Unlimited));
        Assert.Equal("image is 2x2 = 4 pixels, over the limit of 3",
            Assert.Throws<InvalidInputException>(() => ImageDecoder.FromRaw(data, 2, 2, 0, true, 3)).Message);
    }

    private static byte[] ExtendedWebPHeader(int width, int height)
    {
        var webp = new byte[30];
        "RIFF"u8.CopyTo(webp);
        BinaryPrimitives.WriteInt32LittleEndian(webp.AsSpan(4), 22);
        "WEBPVP8X"u8.CopyTo(webp.AsSpan(8));
        BinaryPrimitives.WriteInt32LittleEndian(webp.AsSpan(16), 10);
        int w = width - 1, h = height - 1;
        webp[24] = (byte)w;
        webp[25] = (byte)(w >> 8);
        webp[26] = (byte)(w >> 16);
        webp[27] = (byte)h;
        webp[28] = (byte)(h >> 8);
        webp[29] = (byte)(h >> 16);
        return webp;
    }
}
