namespace SineGrpc.Server.Transport;

/// <summary>Protobuf wire types (the low three bits of a field's tag).</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// Reads protobuf wire-format primitives from one message's bytes within a larger buffer.
/// Positions are offsets into that whole buffer, so a length-delimited field can be
/// handed on as a slice of it. Every read says false, never throws, on input it does
/// not accept: the caller then leaves the message to Google.Protobuf, which decides
/// what is an error and how to report it.
/// </summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _end;
    private int _position;

    /// <param name="buffer">The whole buffer.</param>
    /// <param name="start">Where the message starts in it.</param>
    /// <param name="length">The message's length in bytes.</param>
    public WireReader(ReadOnlySpan<byte> buffer, int start, int length)
    {
        _buffer = buffer[..(start + length)];
        _position = start;
        _end = start + length;
    }

    public readonly bool AtEnd => _position == _end;

    /// <summary>Reads a field's tag. False at a tag that is not a 32-bit varint.</summary>
    public bool TryReadTag(out int fieldNumber, out WireType wireType)
    {
        fieldNumber = 0;
        wireType = default;
        if (!TryReadVarint(out var tag) || tag > uint.MaxValue)
            return false;
        fieldNumber = (int)(tag >> 3);
        wireType = (WireType)(tag & 7);
        return true;
    }

    /// <summary>
    /// Reads a varint of at most 64 bits. False when it runs past the message's end, is
    /// longer than ten bytes, or carries bits beyond the 64th (which protobuf drops
    /// silently: too unusual to be worth matching here).
    /// </summary>
    public bool TryReadVarint(out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position == _end)
                return false;
            var b = _buffer[_position++];
            if (shift == 63 && b > 1)
                return false;
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return true;
        }
        return false;
    }

    /// <summary>Reads a varint that must fit 32 bits (uint32 and enum fields as proto3 writes them).</summary>
    public bool TryReadVarint32(out uint value)
    {
        value = 0;
        if (!TryReadVarint(out var wide) || wide > uint.MaxValue)
            return false;
        value = (uint)wide;
        return true;
    }

    /// <summary>Reads a length-delimited field's length and skips its bytes, giving where they are in the buffer.</summary>
    public bool TryReadLengthDelimited(out int start, out int length)
    {
        start = 0;
        length = 0;
        if (!TryReadVarint(out var declared) || declared > (ulong)(_end - _position))
            return false;
        start = _position;
        length = (int)declared;
        _position += length;
        return true;
    }
}
