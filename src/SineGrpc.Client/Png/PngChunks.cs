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
    /// <summary>The signature, IHDR's length and type, and its 13 bytes of data.</summary>
    private const int HeaderBytes = 8 + 8 + 13;

    /// <summary>Reads the header from the start of a PNG file's bytes.</summary>
    public static PngHeader Read(ReadOnlySpan<byte> png)
    {
        // The IHDR chunk must come first, right after the signature: 8 + 4 (length) + 4 (type) + 13 (data).
        if (png.Length < HeaderBytes || !png[..8].SequenceEqual(PngChunks.Signature) || !png[12..16].SequenceEqual("IHDR"u8))
        {
            throw new InvalidDataException("not a PNG file");
        }
        var ihdr = png.Slice(16, 13);
        var width = BinaryPrimitives.ReadUInt32BigEndian(ihdr);
        var height = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        // PNG sizes stop at 2^31 - 1; a larger one is a corrupt file (and no int).
        if (width > int.MaxValue || height > int.MaxValue)
        {
            throw new InvalidDataException($"PNG size {width}x{height} is out of range");
        }
        return new PngHeader((int)width, (int)height, BitDepth: ihdr[8], ColourType: (PngColourType)ihdr[9]);
    }

    /// <summary>Reads the header of a PNG file from its first bytes, without reading the rest.</summary>
    public static PngHeader ReadFile(string path)
    {
        Span<byte> start = stackalloc byte[HeaderBytes];
        int length;
        using (var file = File.OpenRead(path))
        {
            length = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        }
        try
        {
            return Read(start[..length]);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
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
            // A length past the file (up to 2^32 - 1 in a corrupt one) is refused before it is used as an int.
            var declared = BinaryPrimitives.ReadUInt32BigEndian(png[position..]);
            if (png.Length - position - 12 < declared)
            {
                throw new InvalidDataException("truncated PNG chunk");
            }
            var length = (int)declared;
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
