using System.Buffers.Binary;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;

namespace SineGrpc.Client.Tests.Png;

/// <summary>Corrupt PNG headers end as InvalidDataException (the CLI's input error), never as another exception.</summary>
public class CorruptPngTests
{
    /// <summary>An 8-bit palette PNG whose IHDR says <paramref name="width"/> x <paramref name="height"/>, with valid CRCs and no pixels.</summary>
    private static byte[] PaletteHeaderOnly(uint width, uint height, int ihdrLength = 13)
    {
        var ihdr = new byte[ihdrLength];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = (byte)PngColourType.Palette;
        using var png = new MemoryStream();
        png.Write(PngChunks.Signature);
        PngChunks.Write(png, "IHDR", ihdr);
        PngChunks.Write(png, "IDAT", []);
        PngChunks.Write(png, "IEND", []);
        return png.ToArray();
    }

    [Theory]
    [InlineData(0x80000000u, 1u)]
    [InlineData(1u, 0xFFFFFFFFu)]
    public void Header_reader_refuses_a_size_past_int(uint width, uint height)
    {
        var ex = Assert.Throws<InvalidDataException>(() => PngHeader.Read(PaletteHeaderOnly(width, height)));
        Assert.Equal($"PNG size {width}x{height} is out of range", ex.Message);
    }

    [Fact]
    public void Index_reader_refuses_an_ihdr_shorter_than_13_bytes()
    {
        // 10 bytes still hold the size, depth and colour type the header reader looks at.
        var ex = Assert.Throws<InvalidDataException>(() => IndexPngReader.Decode(PaletteHeaderOnly(1, 1, ihdrLength: 10)));
        Assert.Contains("IHDR chunk has 10 bytes, not 13", ex.Message);
    }

    [Theory]
    [InlineData(65536u, 65536u)]       // width x height past int
    [InlineData(2147483647u, 2u)]
    public void Index_reader_refuses_a_size_no_array_holds(uint width, uint height)
    {
        var ex = Assert.Throws<InvalidDataException>(() => IndexPngReader.Decode(PaletteHeaderOnly(width, height)));
        Assert.Equal($"a {width}x{height} mask is too large", ex.Message);
    }

    [Fact]
    public void Chunk_reader_refuses_a_length_past_int()
    {
        var png = PalettePngWriter.Encode(1, 1, [0], DavisPalette.Colors);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(33), 0x80000000u); // the chunk after IHDR

        var ex = Assert.Throws<InvalidDataException>(() => PngChunks.ReadAll(png));
        Assert.Equal("truncated PNG chunk", ex.Message);
    }
}
