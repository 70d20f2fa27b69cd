using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Tests.Imaging;

public class InputGeometryTests
{
    internal static ModelManifest Manifest(int inputSize, int padSize, int featureStride, int maskStride) => new()
    {
        Name = "test",
        MemoryKind = MemoryKinds.Dense,
        InputSize = inputSize,
        PadSize = padSize,
        Mean = [0.485f, 0.456f, 0.406f],
        Std = [0.229f, 0.224f, 0.225f],
        FeatureChannels = 8,
        FeatureStride = featureStride,
        MaskStride = maskStride,
    };

    [Fact]
    public void Sine_video_geometry()
    {
        // 854x480 to a longer side of 1036: 480 * 1036 / 854 = 582.29 -> 582; padded to 1036 square;
        // 1036 / 14 = 74 feature cells.
        var g = InputGeometry.For(Manifest(1036, 1036, 14, 14), 854, 480);
        Assert.Equal((854, 480, 1036, 582, 1036, 1036), (g.SourceWidth, g.SourceHeight, g.ResizedWidth, g.ResizedHeight, g.PaddedWidth, g.PaddedHeight));
        Assert.Equal((74, 74), (g.FeatureWidth, g.FeatureHeight));

        // SINE's masks: 4 cells per feature cell, 296 x 296 (3.5 input pixels a cell).
        var sine = InputGeometry.For(Manifest(1036, 1036, 14, 14) with { MaskStride = 0, MaskScale = 4 }, 854, 480);
        Assert.Equal((296, 296), (sine.MaskWidth, sine.MaskHeight));
    }

    [Fact]
    public void Stride_padding_geometry()
    {
        // 864 / (854 / 480) = 485.62 -> 485 (truncated, as the reference), rounded up to a multiple of 16: 496.
        var g = InputGeometry.For(Manifest(864, 0, 16, 16), 854, 480);
        Assert.Equal((864, 485, 864, 496), (g.ResizedWidth, g.ResizedHeight, g.PaddedWidth, g.PaddedHeight));
        Assert.Equal((54, 31), (g.FeatureWidth, g.FeatureHeight));
        Assert.Equal((54, 31), (g.MaskWidth, g.MaskHeight));
    }

    [Fact]
    public void Portrait_square_and_extreme_frames()
    {
        var m = Manifest(1036, 1036, 14, 14);
        var portrait = InputGeometry.For(m, 480, 854);
        Assert.Equal((582, 1036), (portrait.ResizedWidth, portrait.ResizedHeight));

        var square = InputGeometry.For(m, 300, 300);
        Assert.Equal((1036, 1036), (square.ResizedWidth, square.ResizedHeight));

        // 1 * 1036 / 5000 rounds to 0: kept at 1.
        var strip = InputGeometry.For(m, 5000, 1);
        Assert.Equal((1036, 1), (strip.ResizedWidth, strip.ResizedHeight));

        // 6 / (4 / 3) = 4.5: truncated to 4, as SINE's reference resize does (int(size / aspect)).
        var half = InputGeometry.For(Manifest(6, 0, 2, 2), 4, 3);
        Assert.Equal((6, 4, 6, 4), (half.ResizedWidth, half.ResizedHeight, half.PaddedWidth, half.PaddedHeight));

        // 1920x1080 to 1036: 582.75 -> 582 (the reference truncates; rounding would give 583).
        var hd = InputGeometry.For(m, 1920, 1080);
        Assert.Equal((1036, 582), (hd.ResizedWidth, hd.ResizedHeight));
    }

    [Fact]
    public void Rejects_empty_frames()
    {
        Assert.Throws<InvalidInputException>(() => InputGeometry.For(Manifest(8, 0, 4, 4), 0, 3));
    }
}
