using SineGrpc.Client.Eval;

namespace SineGrpc.Client.Tests.Eval;

/// <summary>J, F and the per-object statistics on cases worked out by hand.</summary>
public sealed class DavisMetricsTests
{
    /// <summary>A width x height mask with the rectangle [x0, x0 + w) x [y0, y0 + h) set.</summary>
    private static byte[] Rectangle(int width, int height, int x0, int y0, int w, int h)
    {
        var mask = new byte[width * height];
        for (var y = y0; y < y0 + h; y++)
        {
            for (var x = x0; x < x0 + w; x++)
            {
                mask[y * width + x] = 1;
            }
        }
        return mask;
    }

    [Fact]
    public void J_of_identical_masks_is_1()
    {
        var square = Rectangle(100, 100, 20, 20, 40, 40);
        Assert.Equal(1.0, DavisMetrics.Jaccard(square, square));
    }

    [Fact]
    public void J_of_a_square_and_its_copy_3_pixels_to_the_right()
    {
        // 40x40 squares overlapping in 37 columns: 1480 / (1600 + 1600 - 1480) = 1480 / 1720.
        var truth = Rectangle(100, 100, 20, 20, 40, 40);
        var shifted = Rectangle(100, 100, 23, 20, 40, 40);
        Assert.Equal(1480.0 / 1720.0, DavisMetrics.Jaccard(truth, shifted), 12);
    }

    [Fact]
    public void J_of_a_mask_inside_another_is_the_area_ratio()
    {
        var large = Rectangle(64, 48, 0, 0, 40, 30);   // 1200 pixels
        var small = Rectangle(64, 48, 10, 10, 10, 10); // 100 pixels, inside
        Assert.Equal(100.0 / 1200.0, DavisMetrics.Jaccard(large, small), 12);
        Assert.Equal(0.0, DavisMetrics.Jaccard(large, Rectangle(64, 48, 50, 40, 5, 5)));
    }

    [Fact]
    public void Tolerance_is_0_008_of_the_diagonal_rounded_up()
    {
        Assert.Equal(8, DavisMetrics.ToleranceRadius(854, 480)); // 0.008 x 979.6 = 7.84
        Assert.Equal(2, DavisMetrics.ToleranceRadius(100, 100)); // 0.008 x 141.4 = 1.13
        Assert.Equal(3, DavisMetrics.ToleranceRadius(100, 100, 3));
    }

    [Fact]
    public void Disk_holds_the_offsets_within_the_radius()
    {
        byte[] expected =
        [
            0, 0, 1, 0, 0,
            0, 1, 1, 1, 0,
            1, 1, 1, 1, 1,
            0, 1, 1, 1, 0,
            0, 0, 1, 0, 0,
        ];
        Assert.Equal(expected, DavisMetrics.Disk(2));
    }

    [Fact]
    public void Boundary_of_a_square_is_a_one_pixel_ring_half_a_pixel_towards_the_origin()
    {
        // Square rows/columns 2..4 in a 7x7 image: its boundary is the ring of rows and columns 1 and 4.
        var boundary = DavisMetrics.BoundaryMap(Rectangle(7, 7, 2, 2, 3, 3), 7, 7);
        var expected = new byte[49];
        for (var i = 1; i <= 4; i++)
        {
            expected[1 * 7 + i] = expected[4 * 7 + i] = expected[i * 7 + 1] = expected[i * 7 + 4] = 1;
        }
        Assert.Equal(expected, boundary);
    }

    [Fact]
    public void Boundary_on_the_last_row_and_column_follows_the_toolkit()
    {
        // A full mask has no boundary inside; on the last row and column the outside does not count.
        Assert.All(DavisMetrics.BoundaryMap(Rectangle(5, 4, 0, 0, 5, 4), 5, 4), v => Assert.Equal(0, v));
    }

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(5, 1.0)]
    [InlineData(8, 1.0)] // exactly the tolerance (8 pixels at 854x480): still matched
    [InlineData(9, 0.0)] // one pixel beyond: nothing matches
    public void F_of_a_vertical_edge_moved_by_a_known_distance(int shift, double expected)
    {
        // Left part of the frame is the object; the prediction's edge is `shift` columns further right.
        var truth = Rectangle(854, 480, 0, 0, 400, 480);
        var prediction = Rectangle(854, 480, 0, 0, 400 + shift, 480);
        Assert.Equal(expected, DavisMetrics.BoundaryF(truth, prediction, 854, 480), 12);
    }

    [Fact]
    public void F_of_a_square_moved_beyond_the_tolerance_counts_only_the_matching_sides()
    {
        // 100x100 image: tolerance 2. The 40x40 square at 20..59 has the 41x41 boundary ring at
        // rows/columns 19 and 59 (160 pixels). Moved 3 columns right, its vertical sides are 3 away
        // (unmatched); its top and bottom rows match but for their first pixel (40 + 40), and the
        // right side's 4 pixels within 2 of the moved top and bottom rows match too: 84 of 160.
        // By symmetry precision is the same, so F = 84 / 160.
        var truth = Rectangle(100, 100, 20, 20, 40, 40);
        var shifted = Rectangle(100, 100, 23, 20, 40, 40);
        Assert.Equal(84.0 / 160.0, DavisMetrics.BoundaryF(truth, shifted, 100, 100), 12);
    }

    [Fact]
    public void Empty_prediction_scores_0()
    {
        var truth = Rectangle(64, 48, 10, 10, 20, 20);
        var empty = new byte[64 * 48];
        Assert.Equal(0.0, DavisMetrics.Jaccard(truth, empty));
        Assert.Equal(0.0, DavisMetrics.BoundaryF(truth, empty, 64, 48));
    }

    [Fact]
    public void Empty_ground_truth_scores_0_for_a_prediction_and_1_for_none()
    {
        var empty = new byte[64 * 48];
        var prediction = Rectangle(64, 48, 10, 10, 20, 20);
        Assert.Equal(0.0, DavisMetrics.Jaccard(empty, prediction));
        Assert.Equal(0.0, DavisMetrics.BoundaryF(empty, prediction, 64, 48));
        Assert.Equal(1.0, DavisMetrics.Jaccard(empty, empty));
        Assert.Equal(1.0, DavisMetrics.BoundaryF(empty, empty, 64, 48));
    }

    [Fact]
    public void Statistics_are_mean_recall_and_the_decay_over_four_overlapping_bins()
    {
        // 10 frames: bin edges round(linspace(1, 10, 5)) - 1 = 0, 2, 5, 7, 9 (5.5 rounds up), so the
        // first bin is frames 0..2 and the last 7..9.
        double[] values = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
        var (mean, recall, decay) = DavisMetrics.Statistics(values);
        Assert.Equal(0.55, mean, 12);
        Assert.Equal(0.5, recall, 12); // 0.5 itself is not above 0.5
        Assert.Equal(0.9 - 0.2, decay, 12);
    }

    [Fact]
    public void Statistics_of_one_frame_have_no_decay()
    {
        var (mean, recall, decay) = DavisMetrics.Statistics([0.25]);
        Assert.Equal((0.25, 0.0, 0.0), (mean, recall, decay));
    }
}
