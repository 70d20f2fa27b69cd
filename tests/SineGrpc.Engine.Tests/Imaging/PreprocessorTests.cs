using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Tests.Imaging;

public class PreprocessorTests
{
    // PixelScale 1, mean (10, 20, 30), std (2, 4, 5) in the model's channel order.
    private static ModelManifest Simple(string order, int inputSize, int featureStride) =>
        InputGeometryTests.Manifest(inputSize, 0, featureStride, featureStride) with
        {
            ChannelOrder = order,
            PixelScale = 1f,
            Mean = [10f, 20f, 30f],
            Std = [2f, 4f, 5f],
        };

    // A 4x3 frame of one colour, B=50 G=20 R=30. InputSize 8: resized 8x6; stride 4: padded 8x8.
    // A uniform image stays uniform under bilinear resizing, so:
    //   rgb: c0 = (R 30 - 10) / 2 = 10, c1 = (G 20 - 20) / 4 = 0, c2 = (B 50 - 30) / 5 = 4
    //   bgr: c0 = (B 50 - 10) / 2 = 20, c1 = 0,                   c2 = (R 30 - 30) / 5 = 0
    // and rows 6-7 are padding: 0 after normalisation.
    [Theory]
    [InlineData("rgb", 10f, 0f, 4f)]
    [InlineData("bgr", 20f, 0f, 0f)]
    public void Uniform_frame_normalises_per_channel_and_pads_with_zeros(string order, float c0, float c1, float c2)
    {
        var manifest = Simple(order, 8, 4);
        using var frame = new Mat(3, 4, MatType.CV_8UC3, new Scalar(50, 20, 30));
        var g = InputGeometry.For(manifest, 4, 3);
        Assert.Equal((8, 6, 8, 8), (g.ResizedWidth, g.ResizedHeight, g.PaddedWidth, g.PaddedHeight));

        var input = new float[3 * 8 * 8];
        input.AsSpan().Fill(float.NaN); // everything must be written
        using var pre = new Preprocessor(manifest);
        pre.Run(frame, g, input);

        float[] expected = [c0, c1, c2];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                    Assert.Equal(y < 6 ? expected[c] : 0f, input[(c * 8 + y) * 8 + x]);
    }

    // A 2x1 frame [0, 100] (gray). InputSize 4: resized 4x2. Bilinear with half-pixel centres:
    // output x samples source (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped at the edges:
    //   0, 0.75*0 + 0.25*100 = 25, 0.25*0 + 0.75*100 = 75, 100.
    [Fact]
    public void Resize_is_bilinear_with_half_pixel_centres()
    {
        var manifest = Simple("rgb", 4, 2) with { Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f] };
        using var frame = new Mat(1, 2, MatType.CV_8UC3, Scalar.All(0));
        frame.Set(0, 1, new Vec3b(100, 100, 100));
        var g = InputGeometry.For(manifest, 2, 1);
        Assert.Equal((4, 2, 4, 2), (g.ResizedWidth, g.ResizedHeight, g.PaddedWidth, g.PaddedHeight));

        var input = new float[3 * 2 * 4];
        using var pre = new Preprocessor(manifest);
        pre.Run(frame, g, input);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 2; y++)
                Assert.Equal([0f, 25f, 75f, 100f], input.AsSpan((c * 2 + y) * 4, 4).ToArray());
    }

    [Fact]
    public void Imagenet_normalisation_of_white()
    {
        // Default PixelScale 1/255: white is 1.0; R channel (1 - 0.485) / 0.229 = 2.24890829...
        var manifest = InputGeometryTests.Manifest(4, 0, 4, 4);
        using var frame = new Mat(4, 4, MatType.CV_8UC3, Scalar.All(255));
        var g = InputGeometry.For(manifest, 4, 4);
        var input = new float[3 * 16];
        using var pre = new Preprocessor(manifest);
        pre.Run(frame, g, input);
        Assert.Equal(2.2489083f, input[0], 5);
        Assert.Equal((1 - 0.456f) / 0.224f, input[16], 5);
        Assert.Equal((1 - 0.406f) / 0.225f, input[32], 5);
    }

    [Fact]
    public void Reuses_its_scratch_across_frames_of_different_sizes()
    {
        var manifest = Simple("rgb", 8, 4);
        using var pre = new Preprocessor(manifest);
        foreach (var (w, h) in new[] { (4, 3), (16, 16), (4, 3), (3, 7) })
        {
            using var frame = new Mat(h, w, MatType.CV_8UC3, new Scalar(50, 20, 30));
            var g = InputGeometry.For(manifest, w, h);
            var input = new float[3 * g.PaddedWidth * g.PaddedHeight];
            pre.Run(frame, g, input);
            Assert.Equal(10f, input[0]);
        }
    }

    [Fact]
    public void Rejects_a_frame_that_does_not_match_the_geometry()
    {
        var manifest = Simple("rgb", 8, 4);
        using var frame = new Mat(3, 4, MatType.CV_8UC3);
        var g = InputGeometry.For(manifest, 5, 3);
        using var pre = new Preprocessor(manifest);
        Assert.Throws<ArgumentException>(() => pre.Run(frame, g, new float[3 * g.PaddedWidth * g.PaddedHeight]));
    }

    // Mask 2x1 [0, 5] (non-zero = 1) to InputSize 4, stride 4: resized 4x2, padded 4x4.
    // Each resized row is [0, 0.25, 0.75, 1] (as above); rows 2-3 are padding.
    [Fact]
    public void Mask_to_input_is_bilinear_on_the_binarised_mask_with_zero_padding()
    {
        var manifest = Simple("rgb", 4, 4);
        var g = InputGeometry.For(manifest, 2, 1);
        Assert.Equal((4, 2, 4, 4), (g.ResizedWidth, g.ResizedHeight, g.PaddedWidth, g.PaddedHeight));
        var destination = new float[16];
        destination.AsSpan().Fill(float.NaN);
        using var pre = new Preprocessor(manifest);
        pre.MaskToInput([0, 5], 2, 1, g, destination);
        Assert.Equal(
            [
                0f, 0.25f, 0.75f, 1f,
                0f, 0.25f, 0.75f, 1f,
                0f, 0f, 0f, 0f,
                0f, 0f, 0f, 0f,
            ],
            destination);
    }

    // The same mask as a label in an index plane: [3, 5] with label 5 is [0, 1].
    [Fact]
    public void Mask_to_input_reads_a_label_s_pixels_of_an_index_plane()
    {
        var manifest = Simple("rgb", 4, 4);
        var g = InputGeometry.For(manifest, 2, 1);
        using var pre = new Preprocessor(manifest);
        var binary = new float[16];
        var labelled = new float[16];
        pre.MaskToInput([0, 5], 2, 1, g, binary);
        pre.MaskToInput([3, 5], 2, 1, g, labelled, label: 5);
        Assert.Equal(binary, labelled);
        pre.MaskToInput([3, 5], 2, 1, g, labelled, label: 3);
        Assert.Equal(0.25f, labelled[2]);   // now the left pixel's: the mirror image, [1, 0.75, 0.25, 0]
        Assert.Equal(1f, labelled[0]);
    }

    [Fact]
    public void Area_downsample_averages_blocks()
    {
        // 4x2 with factor 2: [1 2 | 3 4; 5 6 | 7 8] -> (1+2+5+6)/4 = 3.5, (3+4+7+8)/4 = 5.5.
        var dst = new float[2];
        Preprocessor.AreaDownsample([1, 2, 3, 4, 5, 6, 7, 8], 4, 2, 2, dst);
        Assert.Equal([3.5f, 5.5f], dst);

        // Factor 1 is a copy; a non-multiple size is a programming error.
        var same = new float[4];
        Preprocessor.AreaDownsample([1, 2, 3, 4], 2, 2, 1, same);
        Assert.Equal([1f, 2f, 3f, 4f], same);
        Assert.Throws<ArgumentException>(() => Preprocessor.AreaDownsample(new float[6], 3, 2, 2, new float[1]));
    }
}
