using OpenCvSharp;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;

namespace SineGrpc.Client.Tests.Masks;

public class MaskPromptsTests
{
    private static byte[] GrayPng(params byte[] pixels)
    {
        using var image = Mat.FromPixelData(1, pixels.Length, MatType.CV_8UC1, pixels);
        Cv2.ImEncode(".png", image, out var png);
        Assert.Equal(PngColourType.Grayscale, PngHeader.Read(png).ColourType);
        return png;
    }

    [Fact]
    public void Binary_0_255_grayscale_mask_is_object_1()
    {
        var png = GrayPng(0, 255, 255, 0);

        var prompt = MaskPrompts.FromPng(png, "mask.png");

        Assert.Equal(1u, prompt.ObjectId);
        Assert.Equal(png, prompt.Mask.Png.ToByteArray()); // sent as it is
    }

    [Fact]
    public void Grayscale_mask_of_ids_is_an_index_mask()
    {
        Assert.Equal(0u, MaskPrompts.FromPng(GrayPng(0, 1, 2, 2), "mask.png").ObjectId);
    }

    [Fact]
    public void Grayscale_mask_with_255_and_other_ids_is_an_index_mask()
    {
        Assert.Equal(0u, MaskPrompts.FromPng(GrayPng(0, 3, 255), "mask.png").ObjectId);
    }

    [Fact]
    public void Palette_mask_is_an_index_mask()
    {
        var png = PalettePngWriter.Encode(2, 1, [0, 255], DavisPalette.Colors);

        Assert.Equal(0u, MaskPrompts.FromPng(png, "mask.png").ObjectId);
    }

    private static byte[] Gray16Png(params ushort[] pixels)
    {
        using var image = Mat.FromPixelData(1, pixels.Length, MatType.CV_16UC1, pixels);
        Cv2.ImEncode(".png", image, out var png);
        Assert.Equal((PngColourType.Grayscale, 16), (PngHeader.Read(png).ColourType, PngHeader.Read(png).BitDepth));
        return png;
    }

    [Fact]
    public void Sixteen_bit_mask_of_ids_up_to_255_is_an_index_mask()
    {
        Assert.Equal(0u, MaskPrompts.FromPng(Gray16Png(0, 1, 255), "mask.png").ObjectId);
    }

    [Fact]
    public void Sixteen_bit_binary_0_65535_mask_is_object_1()
    {
        Assert.Equal(1u, MaskPrompts.FromPng(Gray16Png(0, 65535, 65535, 0), "mask.png").ObjectId);
    }

    [Theory]
    [InlineData((ushort)256)]
    [InlineData((ushort)65535)]  // beside other ids, 65535 is an id, not "the object"
    public void Rejects_a_16_bit_mask_with_ids_above_255(ushort id)
    {
        var ex = Assert.Throws<UsageException>(() => MaskPrompts.FromPng(Gray16Png(0, 1, id), "ids.png"));

        Assert.StartsWith($"mask ids.png holds object id {id}, but the 8-bit DAVIS palette PNGs the CLI writes hold ids 1-255", ex.Message);
    }

    [Fact]
    public void Rejects_a_png_whose_size_overflows()
    {
        var png = PalettePngWriter.Encode(2, 1, [0, 1], DavisPalette.Colors);
        png[16] = 0x80; // width 0x80000002

        var ex = Assert.Throws<CliException>(() => MaskPrompts.FromPng(png, "huge.png"));
        Assert.Contains("huge.png: PNG size 2147483650x1 is out of range", ex.Message);
    }

    [Fact]
    public void Rejects_a_colour_png()
    {
        using var image = new Mat(2, 2, MatType.CV_8UC3, Scalar.All(255));
        Cv2.ImEncode(".png", image, out var png);

        var ex = Assert.Throws<CliException>(() => MaskPrompts.FromPng(png, "rgb.png"));
        Assert.Contains("RGB", ex.Message);
    }

    [Fact]
    public void Rejects_a_file_that_is_not_a_png()
    {
        Assert.Throws<CliException>(() => MaskPrompts.FromPng([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3], "photo.jpg"));
    }
}
