using Google.Protobuf;
using Sine.V1;

namespace SineGrpc.Server.Transport;

/// <summary>
/// Reads a <see cref="TrackRequest"/> in the shape clients send it, leaving the frame's
/// image bytes (<c>image.encoded</c> or <c>image.raw.data</c>) in the buffer they arrived
/// in instead of copying them as Google.Protobuf does for every <c>bytes</c> field.
/// <para>
/// Only the canonical shape is read here: one <c>start</c> or one <c>frame</c>, each
/// singular field of the frame, image and raw image at most once, known fields with
/// their proper wire types. Anything else (unknown fields, a field sent twice that
/// protobuf would merge or overwrite, both members of a oneof, truncated data) gets
/// null, and the caller hands the bytes to the generated parser, so that the results
/// and errors of unusual input are exactly protobuf's. Prompts and <c>start</c> are
/// small and rare: they go to the generated parsers.
/// </para>
/// </summary>
internal static class TrackRequestReader
{
    /// <summary>The request in <paramref name="buffer"/>[0..length), or null when it is not in the canonical shape.</summary>
    /// <remarks>The returned frame's image bytes point into <paramref name="buffer"/> (see <see cref="HoldsImageBytes"/>).</remarks>
    public static TrackRequest? TryRead(byte[] buffer, int length)
    {
        try
        {
            return ReadRequest(buffer, length);
        }
        catch (InvalidProtocolBufferException)
        {
            // From a nested generated parser (start or a prompt). The generated parser of
            // the whole message is the one to report it, in its own words.
            return null;
        }
    }

    /// <summary>Whether a request from <see cref="TryRead"/> points into the buffer it was read from.</summary>
    public static bool HoldsImageBytes(TrackRequest request) => request.Frame?.Image is { } image && image.SourceCase switch
    {
        Image.SourceOneofCase.Encoded => !image.Encoded.IsEmpty,
        Image.SourceOneofCase.Raw => !image.Raw.Data.IsEmpty,
        _ => false,
    };

    private static TrackRequest? ReadRequest(byte[] buffer, int length)
    {
        var reader = new WireReader(buffer, 0, length);
        var request = new TrackRequest();
        while (!reader.AtEnd)
        {
            // A second field would switch the oneof or merge into the first.
            if (request.KindCase != TrackRequest.KindOneofCase.None
                || !reader.TryReadTag(out var field, out var wireType) || wireType != WireType.LengthDelimited
                || !reader.TryReadLengthDelimited(out var start, out var size))
                return null;
            switch (field)
            {
                case TrackRequest.StartFieldNumber:
                    request.Start = TrackStart.Parser.ParseFrom(buffer.AsSpan(start, size));
                    break;
                case TrackRequest.FrameFieldNumber when ReadFrame(buffer, start, size) is { } frame:
                    request.Frame = frame;
                    break;
                default:
                    return null;
            }
        }
        return request;
    }

    private static TrackFrame? ReadFrame(byte[] buffer, int start, int length)
    {
        var reader = new WireReader(buffer, start, length);
        var frame = new TrackFrame();
        var seen = new FieldsSeen();
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType))
                return null;
            var ok = (field, wireType) switch
            {
                (TrackFrame.FrameIndexFieldNumber, WireType.Varint) when seen.First(field) => ReadFrameIndex(ref reader, frame),
                (TrackFrame.ImageFieldNumber, WireType.LengthDelimited) when seen.First(field) => ReadFrameImage(ref reader, buffer, frame),
                (TrackFrame.PromptsFieldNumber, WireType.LengthDelimited) => ReadPrompt(ref reader, buffer, frame),
                (TrackFrame.RemoveObjectIdsFieldNumber, WireType.Varint) => ReadRemovedId(ref reader, frame),
                (TrackFrame.RemoveObjectIdsFieldNumber, WireType.LengthDelimited) => ReadPackedRemovedIds(ref reader, buffer, frame),
                _ => false,
            };
            if (!ok)
                return null;
        }
        return frame;
    }

    private static bool ReadFrameIndex(ref WireReader reader, TrackFrame frame)
    {
        if (!reader.TryReadVarint(out var index))
            return false;
        frame.FrameIndex = index;
        return true;
    }

    private static bool ReadFrameImage(ref WireReader reader, byte[] buffer, TrackFrame frame)
    {
        if (!reader.TryReadLengthDelimited(out var start, out var length) || ReadImage(buffer, start, length) is not { } image)
            return false;
        frame.Image = image;
        return true;
    }

    private static bool ReadPrompt(ref WireReader reader, byte[] buffer, TrackFrame frame)
    {
        if (!reader.TryReadLengthDelimited(out var start, out var length))
            return false;
        // Copies its mask bytes; prompts come on a few frames only.
        frame.Prompts.Add(Prompt.Parser.ParseFrom(buffer.AsSpan(start, length)));
        return true;
    }

    private static bool ReadRemovedId(ref WireReader reader, TrackFrame frame)
    {
        if (!reader.TryReadVarint32(out var id))
            return false;
        frame.RemoveObjectIds.Add(id);
        return true;
    }

    private static bool ReadPackedRemovedIds(ref WireReader reader, byte[] buffer, TrackFrame frame)
    {
        if (!reader.TryReadLengthDelimited(out var start, out var length))
            return false;
        var packed = new WireReader(buffer, start, length);
        while (!packed.AtEnd)
        {
            if (!packed.TryReadVarint32(out var id))
                return false;
            frame.RemoveObjectIds.Add(id);
        }
        return true;
    }

    private static Image? ReadImage(byte[] buffer, int start, int length)
    {
        var reader = new WireReader(buffer, start, length);
        var image = new Image();
        while (!reader.AtEnd)
        {
            // A second member of the oneof would replace (or merge into) the first.
            if (image.SourceCase != Image.SourceOneofCase.None
                || !reader.TryReadTag(out var field, out var wireType) || wireType != WireType.LengthDelimited
                || !reader.TryReadLengthDelimited(out var fieldStart, out var fieldLength))
                return null;
            switch (field)
            {
                case Image.EncodedFieldNumber:
                    image.Encoded = Wrap(buffer, fieldStart, fieldLength);
                    break;
                case Image.RawFieldNumber when ReadRawImage(buffer, fieldStart, fieldLength) is { } raw:
                    image.Raw = raw;
                    break;
                default:
                    return null;
            }
        }
        return image;
    }

    private static RawImage? ReadRawImage(byte[] buffer, int start, int length)
    {
        var reader = new WireReader(buffer, start, length);
        var raw = new RawImage();
        var seen = new FieldsSeen();
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType) || !seen.First(field))
                return null;
            if (field == RawImage.DataFieldNumber && wireType == WireType.LengthDelimited)
            {
                if (!reader.TryReadLengthDelimited(out var dataStart, out var dataLength))
                    return null;
                raw.Data = Wrap(buffer, dataStart, dataLength);
                continue;
            }
            if (wireType != WireType.Varint || !reader.TryReadVarint32(out var value))
                return null;
            switch (field)
            {
                case RawImage.WidthFieldNumber: raw.Width = value; break;
                case RawImage.HeightFieldNumber: raw.Height = value; break;
                case RawImage.StrideFieldNumber: raw.Stride = value; break;
                case RawImage.FormatFieldNumber: raw.Format = (PixelFormat)(int)value; break;
                default: return null;
            }
        }
        return raw;
    }

    private static ByteString Wrap(byte[] buffer, int start, int length) =>
        length == 0 ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(start, length));

    /// <summary>Which singular fields (numbers below 32) a message has shown so far.</summary>
    private struct FieldsSeen
    {
        private uint _bits;

        /// <summary>True the first time a field number is shown; false when it comes again or is out of range.</summary>
        public bool First(int field)
        {
            if (field is <= 0 or >= 32 || (_bits & (1u << field)) != 0)
                return false;
            _bits |= 1u << field;
            return true;
        }
    }
}
