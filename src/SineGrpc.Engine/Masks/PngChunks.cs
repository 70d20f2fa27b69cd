using System.Buffers.Binary;
using System.Text;

namespace SineGrpc.Engine.Masks;

/// <summary>
/// The PNG container: signature, length-type-data-CRC chunks and the chunk CRC-32. Shared
/// by <see cref="MaskPng"/>'s reader and writer (and handy for building PNGs in tests).
/// </summary>
internal static class PngChunks
{
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Bytes a chunk with <paramref name="dataLength"/> bytes of data takes.</summary>
    public static int Size(int dataLength) => 12 + dataLength;

    /// <summary>Writes one chunk at the start of <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Write(Span<byte> destination, string type, ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteInt32BigEndian(destination, data.Length);
        Encoding.ASCII.GetBytes(type, destination.Slice(4, 4));
        data.CopyTo(destination[8..]);
        // The CRC covers the type and the data, not the length.
        uint crc = Crc32.Compute(destination.Slice(4, 4 + data.Length));
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(8 + data.Length), crc);
        return Size(data.Length);
    }

    /// <summary>A chunk read from a PNG: its 4-character type and its data.</summary>
    public readonly ref struct Chunk(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        public ReadOnlySpan<byte> Type { get; } = type;
        public ReadOnlySpan<byte> Data { get; } = data;
        public bool Is(string type) => Type.Length == 4 && Type[0] == type[0] && Type[1] == type[1] && Type[2] == type[2] && Type[3] == type[3];
        public string TypeName => Encoding.ASCII.GetString(Type);
    }

    /// <summary>
    /// Reads the chunk at <paramref name="offset"/> of <paramref name="png"/>, checks its CRC and
    /// advances <paramref name="offset"/> past it.
    /// </summary>
    /// <exception cref="InvalidInputException">The chunk runs past the end of the bytes or its CRC is wrong.</exception>
    public static Chunk Read(ReadOnlySpan<byte> png, ref int offset)
    {
        if (png.Length - offset < 12)
            throw new InvalidInputException($"PNG is truncated: a chunk header at byte {offset} is cut off");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(png[offset..]);
        if (length > (uint)(png.Length - offset - 12))
            throw new InvalidInputException($"PNG is truncated: the chunk at byte {offset} declares {length} bytes of data, more than remain");
        var typeAndData = png.Slice(offset + 4, 4 + (int)length);
        uint expected = BinaryPrimitives.ReadUInt32BigEndian(png[(offset + 8 + (int)length)..]);
        var chunk = new Chunk(typeAndData[..4], typeAndData[4..]);
        if (Crc32.Compute(typeAndData) != expected)
            throw new InvalidInputException($"PNG chunk '{chunk.TypeName}' at byte {offset} has a wrong CRC: the file is corrupt");
        offset += 12 + (int)length;
        return chunk;
    }
}

/// <summary>The CRC-32 of PNG and zlib's <c>crc32</c> (reflected polynomial 0xEDB88320).</summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (var b in data)
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
