using SineGrpc.Client.Masks;

namespace SineGrpc.Client.Tests.Masks;

public class DavisPaletteTests
{
    [Theory]
    [InlineData(0, 0, 0, 0)]
    [InlineData(1, 128, 0, 0)]
    [InlineData(2, 0, 128, 0)]
    [InlineData(3, 128, 128, 0)]
    [InlineData(4, 0, 0, 128)]
    [InlineData(5, 128, 0, 128)]
    [InlineData(6, 0, 128, 128)]
    [InlineData(7, 128, 128, 128)]
    [InlineData(8, 64, 0, 0)]
    [InlineData(9, 192, 0, 0)]
    [InlineData(15, 192, 128, 128)]
    [InlineData(255, 224, 224, 192)]
    public void Matches_the_pascal_voc_colour_map(int index, byte r, byte g, byte b)
    {
        Assert.Equal(new Rgb(r, g, b), DavisPalette.Colors[index]);
    }

    [Fact]
    public void Has_256_distinct_colours()
    {
        Assert.Equal(256, DavisPalette.Colors.Distinct().Count());
    }
}
