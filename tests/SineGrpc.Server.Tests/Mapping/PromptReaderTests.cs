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
}
