using System.Buffers.Binary;
using System.IO.Compression;
using SineGrpc.Client.Png;

namespace SineGrpc.Client.Tests.Support;

/// <summary>Reads back the palette PNGs the client writes: header, palette and raw indices.</summary>
internal sealed record DecodedPalettePng(int Width, int Height, int BitDepth, int ColourType, byte[] Palette, byte[] Indices)
{
    public static DecodedPalettePng Decode(byte[] png)
    {
        var chunks = PngChunks.ReadAll(png);
        Assert.Equal("IHDR", chunks[0].Type);
        Assert.Equal("IEND", chunks[^1].Type);
        var ihdr = chunks[0].Data;
        var width = (int)BinaryPrimitives.ReadUInt32BigEndian(ihdr);
        var height = (int)BinaryPrimitives.ReadUInt32BigEndian(ihdr.AsSpan(4));
        var palette = chunks.Single(c => c.Type == "PLTE").Data;

        using var compressed = new MemoryStream([.. chunks.Where(c => c.Type == "IDAT").SelectMany(c => c.Data)]);
        using var zlib = new ZLibStream(compressed, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        zlib.CopyTo(raw);
        var scanlines = raw.ToArray();
        Assert.Equal(height * (width + 1), scanlines.Length);

        var indices = new byte[width * height];
        for (var y = 0; y < height; y++)
        {
            Assert.Equal(0, scanlines[y * (width + 1)]); // filter type "none"
            Array.Copy(scanlines, y * (width + 1) + 1, indices, y * width, width);
        }
        return new DecodedPalettePng(width, height, ihdr[8], ihdr[9], palette, indices);
    }
}
