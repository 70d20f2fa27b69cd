using OpenCvSharp;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Png;

public class PalettePngWriterTests
{
    // A 5x3 mask with background, objects 1, 2 and 255, and rows that differ.
    private const int Width = 5, Height = 3;
    private static readonly byte[] Indices =
    [
        0, 1, 1, 2, 0,
        0, 0, 2, 2, 255,
        3, 0, 0, 0, 1,
    ];

    [Fact]
    public void Writes_an_8_bit_palette_png_with_the_davis_palette()
    {
        var png = PalettePngWriter.Encode(Width, Height, Indices, DavisPalette.Colors);

        var decoded = DecodedPalettePng.Decode(png);
        Assert.Equal(Width, decoded.Width);
        Assert.Equal(Height, decoded.Height);
        Assert.Equal(8, decoded.BitDepth);
        Assert.Equal(3, decoded.ColourType);
        Assert.Equal(256 * 3, decoded.Palette.Length);
        Assert.Equal(DavisPalette.Colors.SelectMany(c => new[] { c.R, c.G, c.B }), decoded.Palette);
        Assert.Equal(Indices, decoded.Indices);
    }

    [Fact]
    public void Header_reader_agrees()
    {
        var header = PngHeader.Read(PalettePngWriter.Encode(Width, Height, Indices, DavisPalette.Colors));

        Assert.Equal(new PngHeader(Width, Height, 8, PngColourType.Palette), header);
    }

    [Fact]
    public void Opencv_decodes_it_to_the_palette_colours()
    {
        var png = PalettePngWriter.Encode(Width, Height, Indices, DavisPalette.Colors);

        // OpenCV expands palette PNGs to BGR colours; each pixel must be its index's palette colour.
        using var image = Cv2.ImDecode(png, ImreadModes.Unchanged);
        Assert.Equal(MatType.CV_8UC3, image.Type());
        Assert.Equal(new Size(Width, Height), image.Size());
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                var expected = DavisPalette.Colors[Indices[y * Width + x]];
                var actual = image.At<Vec3b>(y, x);
                Assert.Equal(new Vec3b(expected.B, expected.G, expected.R), actual);
            }
        }
    }

    [Fact]
    public void Encodes_a_full_frame()
    {
        const int width = 854, height = 480;
        var indices = new byte[width * height];
        for (var i = 0; i < indices.Length; i++)
        {
            indices[i] = (byte)(i / 1000 % 7);
        }

        var png = PalettePngWriter.Encode(width, height, indices, DavisPalette.Colors);

        Assert.Equal(indices, DecodedPalettePng.Decode(png).Indices);
        using var image = Cv2.ImDecode(png, ImreadModes.Unchanged);
        Assert.Equal(new Size(width, height), image.Size());
    }

    [Fact]
    public void Rejects_indices_of_the_wrong_length()
    {
        Assert.Throws<ArgumentException>(() => PalettePngWriter.Encode(2, 2, new byte[3], DavisPalette.Colors));
    }

    [Fact]
    public void Chunk_reader_rejects_a_corrupted_file()
    {
        var png = PalettePngWriter.Encode(Width, Height, Indices, DavisPalette.Colors);
        png[20] ^= 0xFF; // inside IHDR's data: its CRC no longer matches

        Assert.Throws<InvalidDataException>(() => PngChunks.ReadAll(png));
    }
}
