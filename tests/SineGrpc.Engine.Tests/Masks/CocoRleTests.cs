using SineGrpc.Engine.Masks;

namespace SineGrpc.Engine.Tests.Masks;

public class CocoRleTests
{
    // A 3x4 mask (height 3, width 4), row-major:
    //   row 0: 0 1 1 0
    //   row 1: 0 1 0 0
    //   row 2: 1 1 0 0
    // Column-major walk: col 0 = 0 0 1, col 1 = 1 1 1, col 2 = 1 0 0, col 3 = 0 0 0
    //   -> 0 0 | 1 1 1 1 1 | 0 0 0 0 0  -> counts [2, 5, 5] (sum 12 = 3*4).
    // Compressed: counts 0..2 are never delta-coded (only i > 2 is). Each is below 16,
    // so a single 5-bit group with no continuation and a clear sign bit: 48 + n.
    //   2 -> '2', 5 -> '5', 5 -> '5'  => "255".
    private static readonly byte[] Mask3x4 =
    [
        0, 1, 1, 0,
        0, 1, 0, 0,
        1, 1, 0, 0,
    ];

    [Fact]
    public void Encodes_hand_worked_3x4_mask()
    {
        Assert.Equal([2u, 5u, 5u], CocoRle.EncodeCounts(Mask3x4, 3, 4));
        Assert.Equal("255", CocoRle.Encode(Mask3x4, 3, 4));
    }

    [Fact]
    public void Decodes_hand_worked_3x4_mask()
    {
        var mask = new byte[12];
        CocoRle.Decode("255", 3, 4, mask);
        Assert.Equal(Mask3x4, mask);
    }

    // Height 10, width 5 (50 pixels). Column-major: columns 0..3 all set (40 ones),
    // column 4 = rows 0-2 clear, rows 3-4 set, rows 5-9 clear.
    //   counts [0, 40, 3, 2, 5]: a leading 0 because the first pixel is set.
    // Compressed, count by count:
    //   i=0: 0          -> group 0, no more                         -> '0' (48)
    //   i=1: 40         -> group 40 & 31 = 8, rest 40 >> 5 = 1 != 0 -> 8|0x20 = 40 -> 'X' (88)
    //                      group 1, rest 0, bit 0x10 clear           -> '1' (49)
    //   i=2: 3 (i = 2 is not delta-coded)                            -> '3' (51)
    //   i=3: 2 - counts[1] = 2 - 40 = -38
    //        -38 & 31 = 26 (0b11010), -38 >> 5 = -2; bit 0x10 set and rest != -1 -> more
    //                      26|0x20 = 58 -> 48+58 = 106 'j'
    //        -2 & 31 = 30 (0b11110), -2 >> 5 = -1; bit 0x10 set and rest == -1 -> done
    //                      48+30 = 78 'N'
    //   i=4: 5 - counts[2] = 5 - 3 = 2                               -> '2' (50)
    //   => "0X13jN2"
    private const string Tall = "0X13jN2";

    private static byte[] TallMask()
    {
        var mask = new byte[10 * 5];
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 4; x++)
                mask[y * 5 + x] = 1;
        mask[3 * 5 + 4] = 1;
        mask[4 * 5 + 4] = 1;
        return mask;
    }

    [Fact]
    public void Continuation_and_negative_delta_match_hand_computation()
    {
        var mask = TallMask();
        Assert.Equal([0u, 40u, 3u, 2u, 5u], CocoRle.EncodeCounts(mask, 10, 5));
        Assert.Equal(Tall, CocoRle.Encode(mask, 10, 5));
        Assert.Equal([0u, 40u, 3u, 2u, 5u], CocoRle.DecompressCounts(Tall));

        var decoded = new byte[50];
        CocoRle.Decode(Tall, 10, 5, decoded);
        Assert.Equal(mask, decoded);
    }

    // Height 4, width 5: column 0 clear, columns 1..4 set -> counts [4, 16].
    //   16 = 0b10000: one group would be 16 with the sign bit set, which would read back as
    //   -16, so a second group is needed: 16|0x20 = 48 -> 48+48 = 96 '`', then 0 -> '0'.
    //   => "4`0"
    [Fact]
    public void Positive_count_with_sign_bit_gets_an_extra_group()
    {
        var mask = new byte[20];
        for (int y = 0; y < 4; y++)
            for (int x = 1; x < 5; x++)
                mask[y * 5 + x] = 1;
        Assert.Equal("4`0", CocoRle.Encode(mask, 4, 5));
        Assert.Equal([4u, 16u], CocoRle.DecompressCounts("4`0"));
    }

    [Fact]
    public void Empty_and_full_masks()
    {
        // All clear: one zero run of h*w = 6 -> "6". All set: [0, 6] -> "06".
        Assert.Equal("6", CocoRle.Encode(new byte[6], 2, 3));
        Assert.Equal("06", CocoRle.Encode([1, 1, 1, 1, 1, 1], 2, 3));
        // 1920x1080 all clear: one count of 2073600, which takes five 5-bit groups.
        var big = new byte[1920 * 1080];
        var s = CocoRle.Encode(big, 1080, 1920);
        Assert.Equal([2073600u], CocoRle.DecompressCounts(s));
    }

    [Fact]
    public void Any_non_zero_byte_is_object()
    {
        Assert.Equal(CocoRle.Encode(Mask3x4, 3, 4), CocoRle.Encode(Mask3x4.Select(v => (byte)(v * 255)).ToArray(), 3, 4));
    }

    [Theory]
    [InlineData(1, 1, 0.5)]
    [InlineData(1, 17, 0.5)]
    [InlineData(17, 1, 0.5)]
    [InlineData(7, 13, 0.5)]
    [InlineData(64, 33, 0.05)]
    [InlineData(480, 854, 0.5)]
    [InlineData(100, 100, 0.98)]
    public void Random_masks_round_trip_and_match_a_naive_encoder(int height, int width, double density)
    {
        var random = new Random(height * 1000 + width);
        var mask = new byte[height * width];
        // Independent pixels: many short runs, including runs of length 1.
        for (int i = 0; i < mask.Length; i++)
            mask[i] = (byte)(random.NextDouble() < density ? 1 : 0);

        var counts = CocoRle.EncodeCounts(mask, height, width);
        Assert.Equal(NaiveCounts(mask, height, width), counts);

        var s = CocoRle.Encode(mask, height, width);
        Assert.Equal(s, CocoRle.CompressCounts(counts));
        Assert.Equal(counts, CocoRle.DecompressCounts(s));

        var decoded = new byte[mask.Length];
        CocoRle.Decode(s, height, width, decoded);
        Assert.Equal(mask, decoded);

        Array.Clear(decoded);
        CocoRle.DecodeCounts(counts, height, width, decoded);
        Assert.Equal(mask, decoded);
    }

    [Fact]
    public void Large_counts_round_trip_through_the_string()
    {
        uint[] counts = [0, 1, 100_000, 3, 4_000_000_000, 17, 15, 16, 31, 32, 33, 1023, 1024, 0, 5];
        Assert.Equal(counts, CocoRle.DecompressCounts(CocoRle.CompressCounts(counts)));
    }

    [Fact]
    public void Decode_rejects_counts_that_do_not_cover_the_mask()
    {
        var e = Assert.Throws<InvalidInputException>(() => CocoRle.Decode("255", 3, 5, new byte[15]));
        Assert.Equal("RLE counts sum to 12 but the mask is 3x5 = 15 pixels", e.Message);

        e = Assert.Throws<InvalidInputException>(() => CocoRle.DecodeCounts([2u, 5u, 6u], 3, 4, new byte[12]));
        Assert.Equal("RLE counts sum to 13 but the mask is 3x4 = 12 pixels", e.Message);
    }

    [Theory]
    [InlineData("2 5")]   // space is below '0'
    [InlineData("25p")]   // 'p' is 112, above 'o'
    [InlineData("2\u00e95")]
    public void Decode_rejects_bad_characters(string counts)
    {
        var e = Assert.Throws<InvalidInputException>(() => CocoRle.Decode(counts, 3, 4, new byte[12]));
        Assert.Contains("invalid character", e.Message);
    }

    [Fact]
    public void Decode_rejects_a_truncated_string()
    {
        // 'X' = group 40: continuation bit set, and the string ends.
        var e = Assert.Throws<InvalidInputException>(() => CocoRle.Decode("25X", 3, 4, new byte[12]));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Decode_rejects_a_negative_run()
    {
        // '1','1','1' = [1, 1, 1]; then 'N' = group 30 with sign bit = -2, delta against
        // counts[1] = 1 -> -1: not a run length.
        var e = Assert.Throws<InvalidInputException>(() => CocoRle.DecompressCounts("111N"));
        Assert.Contains("invalid run length -1", e.Message);
    }

    [Fact]
    public void Full_hd_mask_round_trips()
    {
        const int height = 1080, width = 1920;
        var mask = new byte[height * width];
        // A disc and some noise along its edge: a realistic segmentation.
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                mask[y * width + x] = (byte)((x - 900) * (x - 900) + (y - 500) * (y - 500) < 300 * 300 + (x * 7 + y * 13) % 2000 ? 1 : 0);
        var s = CocoRle.Encode(mask, height, width);
        var decoded = new byte[mask.Length];
        CocoRle.Decode(s, height, width, decoded);
        Assert.Equal(mask, decoded);
    }

    // ---- bounds: the work is bounded by the mask, not by the string ----------------

    [Fact]
    public void A_long_string_of_zero_runs_is_refused_by_its_length()
    {
        // 60 000 zero-length runs, then one run of the whole 64x64 mask: the counts sum to
        // 4096, so without the bound this decodes, after renting buffers for every count.
        var counts = new uint[60_001];
        counts[^1] = 64 * 64;
        var s = CocoRle.CompressCounts(counts);
        Assert.Equal(60_003, s.Length); // 60 000 '0's, and 4096 takes three characters

        var e = Assert.Throws<InvalidInputException>(() => CocoRle.Decode(s, 64, 64, new byte[64 * 64]));
        // A 64x64 mask has at most 4097 counts of at most 7 characters: 28 679 characters.
        Assert.Equal("RLE counts string has 60003 characters, more than the 28679 a 64x64 mask can need (4097 counts of at most 7 characters)", e.Message);
    }

    [Fact]
    public void A_string_with_more_counts_than_pixels_plus_one_is_refused()
    {
        // A 2x2 mask has at most 5 counts. Nine zero runs and a run of 4 sum to 4 and fit in
        // the 35 characters allowed, but are more counts than the mask can have.
        var s = CocoRle.CompressCounts([0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
        Assert.Equal("0000000004", s);
        var e = Assert.Throws<InvalidInputException>(() => CocoRle.Decode(s, 2, 2, new byte[4]));
        Assert.Equal("RLE counts string has more than 5 counts (the next starts at character 5), more than its mask can have (one run per pixel plus a leading zero run)", e.Message);
    }

    [Fact]
    public void Uncompressed_counts_longer_than_pixels_plus_one_are_refused()
    {
        var e = Assert.Throws<InvalidInputException>(() => CocoRle.DecodeCounts([0, 0, 0, 0, 0, 0, 4], 2, 2, new byte[4]));
        Assert.Equal("RLE has 7 counts, more than the 5 a 2x2 mask can have (one run per pixel plus a leading zero run)", e.Message);

        // The check callers make before copying counts: h*w + 1 is the last count allowed.
        CocoRle.CheckCountLimit(4097, 32, 128);
        e = Assert.Throws<InvalidInputException>(() => CocoRle.CheckCountLimit(4098, 32, 128));
        Assert.Equal("RLE has 4098 counts, more than the 4097 a 32x128 mask can have (one run per pixel plus a leading zero run)", e.Message);
    }

    [Fact]
    public void The_most_counts_a_mask_can_have_still_decode()
    {
        // A 2x3 mask whose pixels alternate in column-major order, starting with a set pixel:
        // a leading zero run, then one run per pixel, h*w + 1 = 7 counts.
        uint[] counts = [0, 1, 1, 1, 1, 1, 1];
        byte[] expected =
        [
            1, 1, 1,
            0, 0, 0,
        ];
        Assert.Equal(counts, CocoRle.EncodeCounts(expected, 2, 3));

        var decoded = new byte[6];
        CocoRle.DecodeCounts(counts, 2, 3, decoded);
        Assert.Equal(expected, decoded);

        Array.Clear(decoded);
        CocoRle.Decode(CocoRle.CompressCounts(counts), 2, 3, decoded);
        Assert.Equal(expected, decoded);

        // A full mask: the leading zero run and one run of every pixel.
        CocoRle.Decode("06", 2, 3, decoded);
        Assert.Equal([1, 1, 1, 1, 1, 1], decoded);
        CocoRle.DecodeCounts([0, 6], 2, 3, decoded);
        Assert.Equal([1, 1, 1, 1, 1, 1], decoded);
    }

    private static uint[] NaiveCounts(byte[] mask, int height, int width)
    {
        var counts = new List<uint>();
        byte previous = 0;
        uint run = 0;
        for (int x = 0; x < width; x++)
            for (int y = 0; y < height; y++)
            {
                byte v = mask[y * width + x] != 0 ? (byte)1 : (byte)0;
                if (v != previous)
                {
                    counts.Add(run);
                    run = 0;
                    previous = v;
                }
                run++;
            }
        counts.Add(run);
        return counts.ToArray();
    }
}
