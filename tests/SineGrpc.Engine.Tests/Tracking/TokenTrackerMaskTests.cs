using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

/// <summary>How SINE bundles bring masks into memory: the reference's nearest resize and mask score.</summary>
public class TokenTrackerMaskTests
{
    // A one-row source whose pixel x is "on" only at x == column: NearestToInput then shows,
    // per output column, which source column it read.
    private static int[] SourceColumns(int sourceWidth, int resizedWidth)
    {
        var g = new InputGeometry(sourceWidth, 1, resizedWidth, 1, resizedWidth + 2, 2, FeatureStride: 1, MaskScale: 1);
        var read = new int[resizedWidth];
        var destination = new float[g.PaddedWidth * g.PaddedHeight];
        for (var column = 0; column < sourceWidth; column++)
        {
            var mask = new byte[sourceWidth];
            mask[column] = 1;
            TokenTracker.NearestToInput(mask, label: 0, g, destination);
            for (var x = 0; x < resizedWidth; x++)
            {
                if (destination[x] == 1f)
                    read[x] = column;
            }
            // Padding (two columns, one row) stays zero.
            Assert.Equal(0f, destination[resizedWidth]);
            Assert.All(destination[g.PaddedWidth..], v => Assert.Equal(0f, v));
        }
        return read;
    }

    [Fact]
    public void Nearest_resize_of_a_label_reads_the_pixels_equal_to_it()
    {
        var g = new InputGeometry(4, 1, 8, 1, 8, 1, FeatureStride: 1, MaskScale: 1);
        var destination = new float[8];
        TokenTracker.NearestToInput([2, 0, 7, 2], label: 2, g, destination);
        Assert.Equal([1f, 1f, 0f, 0f, 0f, 0f, 1f, 1f], destination);
        TokenTracker.NearestToInput([2, 0, 7, 2], label: 0, g, destination);
        Assert.Equal([1f, 1f, 0f, 0f, 1f, 1f, 1f, 1f], destination);
    }

    [Fact]
    public void Nearest_resize_reads_the_source_pixels_PyTorch_reads()
    {
        // Indices from torch.nn.functional.interpolate(mode="nearest") (PyTorch 1.13).
        Assert.Equal([0, 1, 3], SourceColumns(5, 3));
        Assert.Equal([0, 0, 0, 1, 1, 2, 2], SourceColumns(3, 7));
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], SourceColumns(4, 8));
        var davis = SourceColumns(854, 1036);
        Assert.Equal([0, 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9], davis[..12]);
        Assert.Equal(441434, davis.Sum());
    }

    [Fact]
    public void Mask_score_is_the_mean_sigmoid_inside_over_area_plus_1e_6()
    {
        float[] logits = [2f, -1f, 0f, 3f];
        var binary = new byte[4];
        var score = TokenTracker.MeanForeground(logits, binary);
        Assert.Equal(new byte[] { 1, 0, 0, 1 }, binary);
        var expected = (1 / (1 + Math.Exp(-2)) + 1 / (1 + Math.Exp(-3))) / (2 + 1e-6);
        Assert.Equal(expected, score, 6);
        Assert.Equal(0f, TokenTracker.MeanForeground([-1f, 0f], new byte[2]));
    }
}
