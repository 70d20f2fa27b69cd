using System.Buffers.Binary;
using System.Text;

namespace SineGrpc.Client.Png;

/// <summary>One chunk of a PNG file.</summary>
internal sealed record PngChunk(string Type, byte[] Data);

/// <summary>PNG colour types (the IHDR field).</summary>
internal enum PngColourType : byte
{
    Grayscale = 0,
    Rgb = 2,
    Palette = 3,
    GrayscaleAlpha = 4,
    Rgba = 6,
}

/// <summary>The facts of a PNG's IHDR chunk that matter here.</summary>
internal readonly record struct PngHeader(int Width, int Height, int BitDepth, PngColourType ColourType)
{
    /// <summary>Reads the header from the start of a PNG file's bytes.</summary>
    public static PngHeader Read(ReadOnlySpan<byte> png)
    {
        // The IHDR chunk must come first, right after the signature: 8 + 4 (length) + 4 (type) + 13 (data).
        if (png.Length < 8 + 8 + 13 || !png[..8].SequenceEqual(PngChunks.Signature) || !png[12..16].SequenceEqual("IHDR"u8))
        {
            throw new InvalidDataException("not a PNG file");
        }
        var ihdr = png.Slice(16, 13);
        return new PngHeader(
            Width: checked((int)BinaryPrimitives.ReadUInt32BigEndian(ihdr)),
            Height: checked((int)BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..])),
            BitDepth: ihdr[8],
            ColourType: (PngColourType)ihdr[9]);
    }
}

/// <summary>Reads and writes the chunk structure of PNG files (length, type, data, CRC).</summary>
internal static class PngChunks
{
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static void Write(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        var typeBytes = Encoding.ASCII.GetBytes(type);

        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        output.Write(word);
        output.Write(typeBytes);
        output.Write(data);
        // The CRC covers the type and the data, not the length.
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Append(Crc32.Compute(typeBytes), data));
        output.Write(word);
    }

    /// <summary>All chunks of a PNG file, in order, each with its CRC checked.</summary>
    public static IReadOnlyList<PngChunk> ReadAll(ReadOnlySpan<byte> png)
    {
        if (png.Length < 8 || !png[..8].SequenceEqual(Signature))
        {
            throw new InvalidDataException("not a PNG file");
        }
        var chunks = new List<PngChunk>();
        var position = 8;
        while (position < png.Length)
        {
            if (png.Length - position < 12)
            {
                throw new InvalidDataException("truncated PNG chunk");
            }
            var length = checked((int)BinaryPrimitives.ReadUInt32BigEndian(png[position..]));
            if (png.Length - position - 12 < length)
            {
                throw new InvalidDataException("truncated PNG chunk");
            }
            var typeAndData = png.Slice(position + 4, 4 + length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png[(position + 8 + length)..]);
            if (crc != Crc32.Compute(typeAndData))
            {
                throw new InvalidDataException($"bad CRC in PNG chunk at byte {position}");
            }
            chunks.Add(new PngChunk(Encoding.ASCII.GetString(typeAndData[..4]), typeAndData[4..].ToArray()));
            position += 12 + length;
        }
        return chunks;
    }
}
