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
