using SineGrpc.Engine.Imaging;

namespace SineGrpc.Engine.Tests.Imaging;

public class PostprocessorTests
{
    // A 32x16 frame, InputSize 16, PadSize 16, mask stride 4: resized 16x8, padded 16x16, maps 4x4.
    private static InputGeometry Landscape() =>
        InputGeometry.For(InputGeometryTests.Manifest(16, 16, 4, 4), 32, 16);

    [Fact]
    public void Constant_maps_stay_constant()
    {
        var g = Landscape();
        var maps = new float[2 * 16];
        maps.AsSpan(0, 16).Fill(2.5f);
        maps.AsSpan(16, 16).Fill(-1f);
        var output = new float[2 * 7 * 5];
        using var post = new Postprocessor();
        post.ToOutput(maps, 2, 4, 4, g, 7, 5, output);
        Assert.All(output.AsSpan(0, 35).ToArray(), v => Assert.Equal(2.5f, v, 5));
        Assert.All(output.AsSpan(35, 35).ToArray(), v => Assert.Equal(-1f, v, 5));
    }

    // Map rows 0-1 are 0 and rows 2-3 are 10 (constant along x).
    // Step 1, 4 -> 16 rows: padded row y samples map row (y + 0.5) / 4 - 0.5:
    //   y = 0..5 -> -0.375 .. 0.875, between rows 0 and 1: 0
    //   y = 6 -> 1.125: 0 + 0.125 * 10 = 1.25;  y = 7 -> 1.375: 3.75
    // Step 2, crop to the resized 8 rows: [0, 0, 0, 0, 0, 0, 1.25, 3.75].
    // Step 3, 8 -> 16 output rows: row y samples (y + 0.5) / 2 - 0.5:
    //   y <= 10 -> <= 4.75: 0
    //   y = 11 -> 5.25: 0.25 * 1.25 = 0.3125     y = 12 -> 5.75: 0.75 * 1.25 = 0.9375
    //   y = 13 -> 6.25: 1.25 + 0.25 * 2.5 = 1.875  y = 14 -> 6.75: 1.25 + 0.75 * 2.5 = 3.125
    //   y = 15 -> 7.25, clamped at the last row: 3.75
    private static readonly float[] StepProfile =
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.3125f, 0.9375f, 1.875f, 3.125f, 3.75f];

    [Fact]
    public void Step_map_lands_where_hand_computation_says()
    {
        var g = Landscape();
        var map = new float[16];
        map.AsSpan(8, 8).Fill(10f);
        var output = new float[32 * 16];
        using var post = new Postprocessor();
        post.ToOutput(map, 1, 4, 4, g, 32, 16, output);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 32; x++)
                Assert.Equal(StepProfile[y], output[y * 32 + x], 5);
    }

    [Fact]
    public void Step_map_along_x_crops_the_left_part_of_a_portrait_frame()
    {
        // The transpose of the case above: a 16x32 frame, resized 8x16, map columns 2-3 are 10.
        var g = InputGeometry.For(InputGeometryTests.Manifest(16, 16, 4, 4), 16, 32);
        Assert.Equal((8, 16), (g.ResizedWidth, g.ResizedHeight));
        var map = new float[16];
        for (int y = 0; y < 4; y++)
            map.AsSpan(y * 4 + 2, 2).Fill(10f);
        var output = new float[16 * 32];
        using var post = new Postprocessor();
        post.ToOutput(map, 1, 4, 4, g, 16, 32, output);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 16; x++)
                Assert.Equal(StepProfile[x], output[y * 16 + x], 5);
    }

    [Fact]
    public void Matches_a_reference_two_step_bilinear_on_random_maps()
    {
        // Non-integer ratios everywhere: map 7x9 over a 36x28 padded input, resized 33x25, output 41x23.
        var g = new InputGeometry(41, 23, 33, 25, 36, 28, FeatureStride: 4, MaskScale: 1);
        const int mapH = 7, mapW = 9, count = 3;
        var random = new Random(7);
        var maps = new float[count * mapH * mapW];
        for (int i = 0; i < maps.Length; i++)
            maps[i] = (float)(random.NextDouble() * 20 - 10);

        var output = new float[count * 23 * 41];
        using var post = new Postprocessor();
        post.ToOutput(maps, count, mapH, mapW, g, 41, 23, output);

        for (int k = 0; k < count; k++)
        {
            var padded = Bilinear(maps.AsSpan(k * mapH * mapW, mapH * mapW).ToArray(), mapW, mapH, 36, 28);
            var cropped = new float[33 * 25];
            for (int y = 0; y < 25; y++)
                Array.Copy(padded, y * 36, cropped, y * 33, 33);
            var expected = Bilinear(cropped, 33, 25, 41, 23);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - output[k * 23 * 41 + i]) < 1e-4, $"map {k} pixel {i}: {expected[i]} vs {output[k * 23 * 41 + i]}");
        }
    }

    // The worked rows of Step_map_lands_where_hand_computation_says (8 -> 16 rows): row 11
    // reads (11 + 0.5) / 2 - 0.5 = 5.25, rows 5 and 6 at 0.25; row 15 reads 7.25, past the
    // last row, so the last row alone; row 0 reads -0.25, before the first, so the first.
    [Fact]
    public void Linear_rows_are_OpenCV_s_with_half_pixel_centres_clamped_at_the_edges()
    {
        Assert.Equal((5, 6, 0.25f), Postprocessor.LinearRow(11, 8, 16));
        Assert.Equal((6, 7, 0.75f), Postprocessor.LinearRow(14, 8, 16));
        Assert.Equal((7, 7, 0f), Postprocessor.LinearRow(15, 8, 16));
        Assert.Equal((0, 1, 0f), Postprocessor.LinearRow(0, 8, 16));
        // Downscaling 5 -> 2: rows read 0.75 and 3.25.
        Assert.Equal((0, 1, 0.75f), Postprocessor.LinearRow(0, 5, 2));
        Assert.Equal((3, 4, 0.25f), Postprocessor.LinearRow(1, 5, 2));
    }

    // The memory's mask of a prediction: what the full source-size plane, thresholded and
    // brought to the input with the nearest rule, gives, on frames larger and smaller than
    // the input (up- and downscaled), an exact half, and a portrait frame.
    [Theory]
    [InlineData(1920, 1080)]
    [InlineData(854, 480)]
    [InlineData(518, 292)]
    [InlineData(300, 517)]
    public void Prediction_to_input_is_the_source_size_mask_brought_to_the_input(int width, int height)
    {
        var g = InputGeometry.For(InputGeometryTests.Manifest(1036, 1036, 14, 14) with { MaskStride = 0, MaskScale = 4 }, width, height);
        var random = new Random(width);
        // Smooth logits crossing 0 in many places: a coarse random map, upsampled by the pipeline.
        var map = new float[g.MaskHeight * g.MaskWidth];
        for (var i = 0; i < map.Length; i++)
            map[i] = (float)(random.NextDouble() * 2 - 1);
        using var post = new Postprocessor();
        var logits = new float[width * height];
        post.ToOutput(map, 1, g.MaskHeight, g.MaskWidth, g, width, height, logits);
        var binary = new byte[width * height];
        Postprocessor.Threshold(logits, binary);
        var expected = new float[g.PaddedWidth * g.PaddedHeight];
        Preprocessor.NearestMaskToInput(binary, label: 0, g, expected);

        var actual = new float[g.PaddedWidth * g.PaddedHeight];
        actual.AsSpan().Fill(float.NaN);
        post.PredictionToInput(map, g.MaskHeight, g.MaskWidth, g, actual);

        // Equal, but where a logit is within rounding of 0: the vertical sums are made as
        // OpenCV's scalar code makes them, and its vector code may round differently (here
        // none of these maps gave a single such pixel).
        var columns = Preprocessor.NearestIndices(width, g.ResizedWidth);
        var rows = Preprocessor.NearestIndices(height, g.ResizedHeight);
        for (var y = 0; y < g.PaddedHeight; y++)
        {
            for (var x = 0; x < g.PaddedWidth; x++)
            {
                var p = y * g.PaddedWidth + x;
                if (actual[p] == expected[p])
                    continue;
                Assert.True(x < g.ResizedWidth && y < g.ResizedHeight, $"padding ({x}, {y}) is {actual[p]}");
                Assert.True(Math.Abs(logits[rows[y] * width + columns[x]]) < 1e-5f, $"({x}, {y}): {actual[p]} against {expected[p]}");
            }
        }
        Assert.InRange(expected.Sum(), 0.2 * g.ResizedWidth * g.ResizedHeight, 0.8 * g.ResizedWidth * g.ResizedHeight);
    }

    [Fact]
    public void Threshold_is_strictly_above_zero()
    {
        var mask = new byte[5];
        Postprocessor.Threshold([-1f, 0f, 1e-7f, 3f, -0f], mask);
        Assert.Equal([0, 0, 1, 1, 0], mask);
    }

    [Fact]
    public void Argmax_picks_the_largest_label_and_the_first_on_ties()
    {
        // 3 labels x 4 pixels.
        float[] labels =
        [
            0.5f, 0.1f, 0.2f, 0.3f,  // label 0
            0.4f, 0.7f, 0.2f, 0.3f,  // label 1
            0.1f, 0.2f, 0.6f, 0.3f,  // label 2
        ];
        var best = new ushort[4];
        Postprocessor.Argmax(labels, 3, 4, best);
        Assert.Equal([0, 1, 2, 0], best);
    }

    /// <summary>PyTorch's bilinear interpolation with align_corners=False, written out plainly.</summary>
    private static float[] Bilinear(float[] source, int inW, int inH, int outW, int outH)
    {
        var result = new float[outW * outH];
        for (int y = 0; y < outH; y++)
        {
            var (y0, y1, fy) = Sample(y, inH, outH);
            for (int x = 0; x < outW; x++)
            {
                var (x0, x1, fx) = Sample(x, inW, outW);
                double top = source[y0 * inW + x0] * (1 - fx) + source[y0 * inW + x1] * fx;
                double bottom = source[y1 * inW + x0] * (1 - fx) + source[y1 * inW + x1] * fx;
                result[y * outW + x] = (float)(top * (1 - fy) + bottom * fy);
            }
        }
        return result;

        static (int I0, int I1, double F) Sample(int o, int inSize, int outSize)
        {
            double s = Math.Max(0, (o + 0.5) * inSize / outSize - 0.5);
            int i0 = Math.Min((int)Math.Floor(s), inSize - 1);
            int i1 = Math.Min(i0 + 1, inSize - 1);
            return (i0, i1, s - i0);
        }
    }
}
