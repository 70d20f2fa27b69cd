using Google.Protobuf;
using OpenCvSharp;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Server.Mapping;

namespace SineGrpc.Server.Tests.Mapping;

/// <summary>A stream's raw frames share one buffer; encoded frames own theirs (<see cref="StreamImages"/>).</summary>
public class StreamImagesTests
{
    private const long NoPixelLimit = long.MaxValue;

    private static Image Raw(int width, int height, byte first) =>
        new()
        {
            Raw = new RawImage
            {
                Width = (uint)width,
                Height = (uint)height,
                Format = PixelFormat.Rgb24,
                Data = ByteString.CopyFrom([.. Enumerable.Range(0, width * height * 3).Select(i => (byte)(first + i))]),
            },
        };

    private static Image Png(int width, int height)
    {
        using var mat = new Mat(height, width, MatType.CV_8UC3, new Scalar(10, 20, 30));
        return new Image { Encoded = ByteString.CopyFrom(mat.ImEncode(".png")) };
    }

    [Fact]
    public void Raw_frames_are_copied_into_one_reused_buffer_with_their_own_pixels()
    {
        using var images = new StreamImages();

        Mat first;
        IntPtr pixels;
        using (var frame = images.Read(Raw(2, 1, first: 0), "frame 0", NoPixelLimit))
        {
            first = frame.Mat;
            pixels = frame.Mat.Data;
            // RGB (0,1,2) (3,4,5) read as BGR.
            Assert.Equal(new Vec3b(2, 1, 0), frame.Mat.At<Vec3b>(0, 0));
            Assert.Equal(new Vec3b(5, 4, 3), frame.Mat.At<Vec3b>(0, 1));
        }
        Assert.False(first.IsDisposed);

        using (var frame = images.Read(Raw(2, 1, first: 100), "frame 1", NoPixelLimit))
        {
            Assert.Same(first, frame.Mat);
            Assert.Equal(pixels, frame.Mat.Data);   // the same size: no new allocation
            Assert.Equal(new Vec3b(102, 101, 100), frame.Mat.At<Vec3b>(0, 0));
        }

        using (var frame = images.Read(Raw(3, 2, first: 7), "frame 2", NoPixelLimit))
        {
            Assert.Same(first, frame.Mat);
            Assert.Equal((3, 2), (frame.Mat.Width, frame.Mat.Height));
            Assert.Equal(new Vec3b(9, 8, 7), frame.Mat.At<Vec3b>(0, 0));
        }
    }

    [Fact]
    public void Encoded_frames_own_their_pixels_and_free_them()
    {
        using var images = new StreamImages();
        Mat decoded;
        using (var frame = images.Read(Png(4, 3), "frame 0", NoPixelLimit))
        {
            decoded = frame.Mat;
            Assert.Equal((4, 3), (decoded.Width, decoded.Height));
            Assert.Equal(new Vec3b(10, 20, 30), decoded.At<Vec3b>(2, 3));
        }
        Assert.True(decoded.IsDisposed);

        // A raw frame after it still goes to the stream's own buffer, which outlives the frame.
        Mat reused;
        using (var raw = images.Read(Raw(1, 1, first: 0), "frame 1", NoPixelLimit))
            reused = raw.Mat;
        Assert.False(reused.IsDisposed);
    }

    [Fact]
    public void A_refused_raw_frame_leaves_the_buffer_usable()
    {
        using var images = new StreamImages();
        var tooShort = Raw(2, 2, first: 0);
        tooShort.Raw.Data = ByteString.CopyFrom(new byte[5]);

        Assert.Throws<InvalidInputException>(() => images.Read(tooShort, "frame 0", NoPixelLimit));

        using var frame = images.Read(Raw(1, 1, first: 3), "frame 1", NoPixelLimit);
        Assert.Equal(new Vec3b(5, 4, 3), frame.Mat.At<Vec3b>(0, 0));
    }
}
