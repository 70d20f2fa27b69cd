using Google.Protobuf;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Masks;
using SineGrpc.Server.Mapping;

namespace SineGrpc.Server.Tests.Mapping;

/// <summary>Prompts are bounded before their masks are allocated (<see cref="PromptAllowance"/>).</summary>
public class PromptReaderTests
{
    private const int Width = 10, Height = 10;
    private const long NoPixelLimit = long.MaxValue;

    private static Prompt Rle(uint id, params uint[] counts) =>
        new() { ObjectId = id, Mask = new Mask { Rle = new Rle { Height = Height, Width = Width, UncompressedCounts = { counts } } } };

    private static Prompt IndexPng(int objects)
    {
        var ids = new ushort[Width * Height];
        for (var i = 0; i < objects; i++)
            ids[i] = (ushort)(i + 1);
        return new Prompt { ObjectId = 0, Mask = new Mask { Png = ByteString.CopyFrom(MaskPng.EncodeIndex(ids, Height, Width)) } };
    }

    /// <summary>
    /// A binary PNG mask of <paramref name="width"/> x <paramref name="height"/> whose bytes
    /// after the IHDR chunk are garbage: decoding it fails, so a refusal that names its size
    /// proves that the size was checked before the decode.
    /// </summary>
    private static Prompt PngWithGarbageData(uint id, int width, int height)
    {
        var png = MaskPng.EncodeBinary(new byte[width * height], height, width);
        const int headerEnd = 8 + 12 + 13; // signature, then the IHDR chunk and its 13 bytes of data
        var garbage = png[..headerEnd].Concat(Enumerable.Range(0, 64).Select(i => (byte)(i * 37))).ToArray();
        Assert.Equal((width, height), MaskPng.ReadSize(garbage));
        return new Prompt { ObjectId = id, Mask = new Mask { Png = ByteString.CopyFrom(garbage) } };
    }

    [Fact]
    public void A_png_mask_far_from_the_frame_s_size_is_refused_from_its_header()
    {
        var e = Assert.Throws<InvalidInputException>(() =>
            PromptReader.Read([PngWithGarbageData(1, 3840, 2160)], Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.Equal("the PNG mask of object 1 is 3840x2160 but its frame is 10x10 (masks must match their frame, give or take one pixel)", e.Message);

        e = Assert.Throws<InvalidInputException>(() =>
            PromptReader.Read([PngWithGarbageData(0, 12, 10)], Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.Equal("the index mask is 12x10 but its frame is 10x10 (masks must match their frame, give or take one pixel)", e.Message);

        // Within the one-pixel rule the header passes, and the decode then fails on the data.
        e = Assert.Throws<InvalidInputException>(() =>
            PromptReader.Read([PngWithGarbageData(1, 11, 9)], Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.StartsWith("PNG is truncated", e.Message);
    }

    [Fact]
    public void A_png_mask_takes_its_allowance_before_it_is_decoded()
    {
        // The request's pixels are spent on one RLE mask: the PNG is refused by the allowance,
        // not by its (garbage) data.
        var allowance = new PromptAllowance(8, Width * Height);
        var e = Assert.Throws<InvalidInputException>(() =>
            PromptReader.Read([Rle(1, 50, 50), PngWithGarbageData(2, Width, Height)], Width, Height, NoPixelLimit, allowance));
        Assert.Equal("the prompt masks of this request hold more than 100 pixels in all (Limits:MaxMaskPixels): send fewer or smaller", e.Message);

        e = Assert.Throws<InvalidInputException>(() =>
            PromptReader.Read([Rle(1, 50, 50), PngWithGarbageData(0, Width, Height)], Width, Height, NoPixelLimit, new PromptAllowance(8, Width * Height)));
        Assert.Contains("(Limits:MaxMaskPixels)", e.Message);
    }

    [Fact]
    public void Png_masks_within_one_pixel_of_the_frame_are_fitted_to_it()
    {
        foreach (var (w, h) in new[] { (Width, Height), (Width + 1, Height - 1), (Width - 1, Height + 1) })
        {
            var mask = new byte[w * h];
            mask[0] = 1;
            var prompt = new Prompt { ObjectId = 3, Mask = new Mask { Png = ByteString.CopyFrom(MaskPng.EncodeBinary(mask, h, w)) } };
            var read = Assert.Single(PromptReader.Read([prompt], Width, Height, NoPixelLimit, new PromptAllowance(8, Width * Height)));
            Assert.Equal(3, read.ObjectId);
            var pixels = read.Mask.ToArray();
            Assert.Equal(Width * Height, pixels.Length);
            Assert.Equal(1, pixels.Count(v => v != 0));
            Assert.Equal(1, pixels[0]);
        }
    }

    [Fact]
    public void Rle_masks_with_more_counts_than_pixels_plus_one_are_refused()
    {
        // 200 zero runs and one run of the whole mask: the counts cover the mask exactly.
        var counts = new uint[201];
        counts[^1] = Width * Height;
        var e = Assert.Throws<InvalidInputException>(() => PromptReader.Read([Rle(1, counts)], Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.Equal("RLE has 201 counts, more than the 101 a 10x10 mask can have (one run per pixel plus a leading zero run)", e.Message);

        var compressed = new Prompt { ObjectId = 1, Mask = new Mask { Rle = new Rle { Height = Height, Width = Width, Counts = CocoRle.CompressCounts(counts) } } };
        e = Assert.Throws<InvalidInputException>(() => PromptReader.Read([compressed], Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.Contains("RLE counts string has more than 101 counts", e.Message);

        // A leading zero run and one run per pixel: the most a 10x10 mask can have.
        var most = Enumerable.Repeat(1u, Width * Height + 1).ToArray();
        most[0] = 0;
        var read = Assert.Single(PromptReader.Read([Rle(1, most)], Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.Equal(Width * Height / 2, read.Mask.ToArray().Count(v => v != 0));
    }

    [Fact]
    public void More_prompts_than_objects_allowed_are_refused_before_any_is_decoded()
    {
        // Counts that do not sum to 100: decoding any of them would fail differently.
        var prompts = Enumerable.Range(1, 9).Select(id => Rle((uint)id, 1, 2)).ToList();
        var e = Assert.Throws<InvalidInputException>(() => PromptReader.Read(prompts, Width, Height, NoPixelLimit, new PromptAllowance(8, NoPixelLimit)));
        Assert.Equal("9 prompts on one image are over the limit of 8 objects", e.Message);
    }

    [Fact]
    public void An_index_mask_with_more_objects_than_allowed_is_refused()
    {
        var allowance = new PromptAllowance(8, 8 * Width * Height);
        Assert.Equal(8, PromptReader.Read([IndexPng(8)], Width, Height, NoPixelLimit, allowance).Count);

        var e = Assert.Throws<InvalidInputException>(() => PromptReader.Read([IndexPng(9)], Width, Height, NoPixelLimit, new PromptAllowance(8, 8 * Width * Height)));
        Assert.Equal("the index mask holds 9 objects: with the image's other prompts, over the limit of 8 objects", e.Message);

        // Two RLE prompts first leave room for six more.
        e = Assert.Throws<InvalidInputException>(() =>
            PromptReader.Read([Rle(20, 50, 50), Rle(21, 0, 100), IndexPng(7)], Width, Height, NoPixelLimit, new PromptAllowance(8, 8 * Width * Height)));
        Assert.Contains("over the limit of 8 objects", e.Message);
    }

    [Fact]
    public void A_request_s_masks_share_one_pixel_budget_across_its_images()
    {
        // As a Segment call's references do: two masks of 10x10 fit in 2 x 100 pixels, a third does not.
        var allowance = new PromptAllowance(2, 200);
        Assert.Equal(2, PromptReader.Read([Rle(1, 50, 50), Rle(2, 0, 100)], Width, Height, NoPixelLimit, allowance).Count);
        var e = Assert.Throws<InvalidInputException>(() => PromptReader.Read([Rle(1, 50, 50)], Width, Height, NoPixelLimit, allowance));
        Assert.Equal("the prompt masks of this request hold more than 200 pixels in all (Limits:MaxMaskPixels): send fewer or smaller", e.Message);
    }

    [Fact]
    public void The_objects_of_an_index_mask_share_one_plane_and_one_mask_of_the_pixel_budget()
    {
        // Eight objects in an allowance of one mask's pixels: the plane is decoded once.
        var prompts = PromptReader.Read([IndexPng(8)], Width, Height, NoPixelLimit, new PromptAllowance(8, Width * Height));

        Assert.Equal(Enumerable.Range(1, 8), prompts.Select(p => p.ObjectId));
        Assert.Single(prompts.Select(p => p.Mask).Distinct());
        foreach (var prompt in prompts)
        {
            var binary = prompt.Mask.ToArray().Select(v => prompt.Covers(v) ? (byte)1 : (byte)0);
            // IndexPng puts object i + 1 on pixel i alone.
            Assert.Equal(Enumerable.Range(0, Width * Height).Select(p => p == prompt.ObjectId - 1 ? (byte)1 : (byte)0), binary);
        }
    }

    [Fact]
    public void Ids_past_255_in_a_16_bit_index_mask_take_a_mask_each()
    {
        var ids = new ushort[Width * Height];
        ids[3] = 300;
        ids[7] = 301;
        var png = new Prompt { ObjectId = 0, Mask = new Mask { Png = ByteString.CopyFrom(MaskPng.EncodeIndex(ids, Height, Width)) } };

        var e = Assert.Throws<InvalidInputException>(() => PromptReader.Read([png], Width, Height, NoPixelLimit, new PromptAllowance(8, Width * Height)));
        Assert.Contains("(Limits:MaxMaskPixels)", e.Message);

        var prompts = PromptReader.Read([png], Width, Height, NoPixelLimit, new PromptAllowance(8, 2 * Width * Height));
        Assert.Equal([300, 301], prompts.Select(p => p.ObjectId));
        Assert.All(prompts, p => Assert.Equal(0, p.Label));
        Assert.Equal(1, prompts[0].Mask.Span[3]);
        Assert.Equal(1, prompts[1].Mask.Span[7]);
    }
}
