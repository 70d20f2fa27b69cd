using SineGrpc.Client.Masks;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Masks;

public class CocoRleTests
{
    // Small counts are one character each: count + 48, no continuation (0x20) or sign (0x10) bit.
    // 0 -> '0', 2 -> '2', 4 -> '4'.
    [Fact]
    public void Decodes_single_character_counts()
    {
        Assert.Equal([0u, 2u, 4u], CocoRle.DecodeCounts("024"));
    }

    // 40 = 0b1_01000. Low group 01000 = 8; more bits follow, so 8 | 0x20 = 40 -> char 88 'X'.
    // Next group 1 -> '1'. So 40 is "X1".
    [Fact]
    public void Decodes_a_count_spanning_two_characters()
    {
        Assert.Equal([40u], CocoRle.DecodeCounts("X1"));
    }

    // 25 = 0b11001 fits 5 bits, but its top bit 0x10 would read as a sign, so the encoder adds an
    // empty group: 25 | 0x20 = 57 -> 'i', then 0 -> '0'. So 25 is "i0".
    [Fact]
    public void Decodes_a_count_whose_top_bit_needs_an_extra_group()
    {
        Assert.Equal([25u], CocoRle.DecodeCounts("i0"));
    }

    // Counts [5, 10, 3, 4, 8]. The first three go as they are: '5', ':' (10 + 48 = 58), '3'.
    // From the fourth on, the difference from the count two earlier:
    //   4 - 10 = -6: low 5 bits of -6 are 11010 = 26, sign bit set and nothing left -> 26 + 48 = 'J'.
    //   8 - 3 = 5 -> '5'.
    [Fact]
    public void Decodes_delta_coded_counts_with_a_negative_difference()
    {
        Assert.Equal([5u, 10u, 3u, 4u, 8u], CocoRle.DecodeCounts("5:3J5"));
    }

    // Counts [2, 25, 3, 5, 1]: '2', "i0" (25, see above), '3', then
    //   5 - 25 = -20: low group of -20 (...11101100) is 01100 = 12; its 0x10 bit is clear, so another
    //     group follows: 12 | 0x20 = 44 -> '\'; then -1's group 11111 = 31 -> 'O' (sign set, done).
    //   1 - 3 = -2: group 11110 = 30, sign set -> 'N'.
    [Fact]
    public void Decodes_a_negative_difference_spanning_two_characters()
    {
        Assert.Equal([2u, 25u, 3u, 5u, 1u], CocoRle.DecodeCounts("2i03\\ON"));
    }

    [Fact]
    public void Empty_string_is_no_counts()
    {
        Assert.Empty(CocoRle.DecodeCounts(""));
    }

    [Theory]
    [InlineData("X")]      // continuation bit set, then the string ends
    [InlineData("0 ")]     // a space is below '0'
    [InlineData("0~")]     // '~' - 48 = 78 is above 63
    [InlineData("0J")]     // second count -6: counts can't be negative
    public void Rejects_malformed_counts(string counts)
    {
        Assert.Throws<InvalidDataException>(() => CocoRle.DecodeCounts(counts));
    }

    // A 3-row, 2-column mask with runs [0, 2, 4]: no 0s, then 2 ones, then 4 zeros, down the columns.
    // Column 0 is (1, 1, 0), column 1 is (0, 0, 0); row-major that is 1 0 / 1 0 / 0 0.
    [Fact]
    public void Decodes_runs_column_major_into_a_row_major_mask()
    {
        var mask = CocoRle.Decode(new Sine.V1.Rle { Height = 3, Width = 2, Counts = "024" });

        Assert.Equal(2, mask.Width);
        Assert.Equal(3, mask.Height);
        Assert.Equal([1, 0, 1, 0, 0, 0], mask.Pixels);
    }

    // 2 rows, 3 columns, runs [1, 3, 2]: column-major pixels 0 1 1 1 0 0, i.e. columns (0,1), (1,1), (0,0).
    // Row-major: 0 1 0 / 1 1 0.
    [Fact]
    public void Decodes_plain_counts_too()
    {
        var rle = new Sine.V1.Rle { Height = 2, Width = 3 };
        rle.UncompressedCounts.AddRange([1, 3, 2]);

        Assert.Equal([0, 1, 0, 1, 1, 0], CocoRle.Decode(rle).Pixels);
    }

    [Fact]
    public void Rejects_counts_that_do_not_cover_the_mask()
    {
        var ex = Assert.Throws<InvalidDataException>(() => CocoRle.Decode(height: 3, width: 2, counts: [1, 2]));
        Assert.Contains("sum to 3", ex.Message);
    }

    [Fact]
    public void Round_trips_with_a_pycocotools_style_encoder()
    {
        var random = new Random(1234);
        const int width = 37, height = 23;
        for (var trial = 0; trial < 50; trial++)
        {
            // Blobs of varying density give short and long runs, and so both signs of differences.
            var pixels = new byte[width * height];
            var density = random.NextDouble();
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = random.NextDouble() < density ? (byte)1 : (byte)0;
            }

            var decoded = CocoRle.Decode(TestRleEncoder.Encode(pixels, width, height));

            Assert.Equal(pixels, decoded.Pixels);
        }
    }

    [Fact]
    public void Decodes_long_runs_of_a_large_frame()
    {
        // A 854x480 frame whose right half is the object: two runs of 204,960 pixels.
        const int width = 854, height = 480;
        var pixels = new byte[width * height];
        for (var y = 0; y < height; y++)
        {
            Array.Fill(pixels, (byte)1, y * width + width / 2, width / 2);
        }
        var rle = TestRleEncoder.Encode(pixels, width, height);

        Assert.Equal([204_960u, 204_960u], CocoRle.DecodeCounts(rle.Counts));
        Assert.Equal(pixels, CocoRle.Decode(rle).Pixels);
    }
}
