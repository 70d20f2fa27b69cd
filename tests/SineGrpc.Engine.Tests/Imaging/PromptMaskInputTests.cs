using SineGrpc.Engine.Imaging;

namespace SineGrpc.Engine.Tests.Imaging;

/// <summary>
/// How prompt masks reach a model's input beside the bilinear rule (<see cref="PreprocessorTests"/>):
/// SINE's nearest resize, and the centre cell that keeps a prompt the resize loses.
/// </summary>
public class PromptMaskInputTests
{
    // A one-row source whose pixel x is "on" only at x == column: NearestMaskToInput then shows,
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
            Preprocessor.NearestMaskToInput(mask, label: 0, g, destination);
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
        Preprocessor.NearestMaskToInput([2, 0, 7, 2], label: 2, g, destination);
        Assert.Equal([1f, 1f, 0f, 0f, 0f, 0f, 1f, 1f], destination);
        Preprocessor.NearestMaskToInput([2, 0, 7, 2], label: 0, g, destination);
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

    // A 20x10 mask to a 10x5 resized input padded to 12x8, feature stride 4.
    private static readonly InputGeometry Halved = new(20, 10, 10, 5, 12, 8, FeatureStride: 4, MaskScale: 1);

    [Fact]
    public void Centre_cell_is_the_feature_cell_around_the_mask_s_centre_of_mass()
    {
        // Label 2 at (13, 7) and (15, 7): centre (14, 7), at the resized size column
        // floor(14.5 * 10 / 20) = 7 and row floor(7.5 * 5 / 10) = 3, so the cell at (4, 0).
        // The 9s are another label's pixels and do not count.
        var mask = new byte[20 * 10];
        mask[7 * 20 + 13] = 2;
        mask[7 * 20 + 15] = 2;
        mask[0] = 9;
        var destination = new float[12 * 8];
        destination.AsSpan().Fill(float.NaN);

        Assert.True(Preprocessor.CentreCellToInput(mask, label: 2, Halved, destination));

        for (var y = 0; y < 8; y++)
        {
            for (var x = 0; x < 12; x++)
                Assert.Equal(y < 4 && x is >= 4 and < 8 ? 1f : 0f, destination[y * 12 + x]);
        }
    }

    [Fact]
    public void Centre_cell_is_cut_at_the_resized_image_s_edge()
    {
        // Centre (19, 9): column floor(19.5 / 2) = 9, row floor(9.5 / 2) = 4; the cell at
        // (8, 4) would reach (12, 8), but the image ends at column 10 and row 5.
        var mask = new byte[20 * 10];
        mask[9 * 20 + 19] = 1;
        var destination = new float[12 * 8];

        Assert.True(Preprocessor.CentreCellToInput(mask, label: 0, Halved, destination));

        Assert.Equal(2f, destination.Sum());
        Assert.Equal(1f, destination[4 * 12 + 8]);
        Assert.Equal(1f, destination[4 * 12 + 9]);
    }

    [Fact]
    public void Centre_cell_of_a_mask_without_the_label_is_nothing()
    {
        var mask = new byte[20 * 10];
        mask[5] = 3;
        var destination = new float[12 * 8];
        destination.AsSpan().Fill(1f);

        Assert.False(Preprocessor.CentreCellToInput(mask, label: 2, Halved, destination));
        Assert.All(destination, v => Assert.Equal(0f, v));
    }
}
