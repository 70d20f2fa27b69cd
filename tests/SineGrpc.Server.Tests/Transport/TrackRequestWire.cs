using Google.Protobuf;
using Sine.V1;

namespace SineGrpc.Server.Tests.Transport;

/// <summary>Track request bytes for the parser tests, including shapes that protobuf's own serializer never writes.</summary>
internal static class TrackRequestWire
{
    public static byte[] JpegLike(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        bytes[0] = 0xFF;
        bytes[1] = 0xD8;
        bytes[2] = 0xFF;
        return bytes;
    }

    public static TrackFrame EncodedFrame(ulong index, int imageBytes = 5000) =>
        new() { FrameIndex = index, Image = new Image { Encoded = ByteString.CopyFrom(JpegLike(imageBytes, seed: (int)index)) } };

    public static TrackFrame RawFrame(ulong index, int width = 16, int height = 8)
    {
        var pixels = new byte[width * height * 3 + 5];
        new Random((int)index).NextBytes(pixels);
        var raw = new RawImage { Width = (uint)width, Height = (uint)height, Stride = (uint)(width * 3), Format = PixelFormat.Rgb24, Data = ByteString.CopyFrom(pixels) };
        return new TrackFrame { FrameIndex = index, Image = new Image { Raw = raw } };
    }

    public static Prompt PngPrompt(uint objectId) => new() { ObjectId = objectId, Mask = new Mask { Png = ByteString.CopyFrom(JpegLike(300, seed: 40)) } };

    public static Prompt RlePrompt(uint objectId) => new()
    {
        ObjectId = objectId,
        Mask = new Mask { Rle = new Rle { Height = 8, Width = 16, Counts = "0c1", UncompressedCounts = { 3, 4, 121 } } },
    };

    public static byte[] Request(TrackFrame frame) => new TrackRequest { Frame = frame }.ToByteArray();

    /// <summary>A request whose frame is <paramref name="frameBody"/>, taken as it is.</summary>
    public static byte[] FrameRequest(byte[] frameBody) => Wire(o => Bytes(o, TrackRequest.FrameFieldNumber, frameBody));

    public static byte[] Wire(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        write(output);
        output.Flush();
        return stream.ToArray();
    }

    public static void Varint(CodedOutputStream output, int field, ulong value)
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteUInt64(value);
    }

    public static void Bytes(CodedOutputStream output, int field, byte[] value)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(value));
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
