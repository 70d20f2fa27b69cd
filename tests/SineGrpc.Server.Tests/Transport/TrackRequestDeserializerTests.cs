using Google.Protobuf;
using Sine.V1;
using SineGrpc.Server.Transport;
using static SineGrpc.Server.Tests.Transport.TrackRequestWire;

namespace SineGrpc.Server.Tests.Transport;

/// <summary>
/// The pooled Track request deserializer gives exactly what Google.Protobuf gives, for the
/// shapes it reads itself and for those it leaves to the generated parser.
/// </summary>
public sealed class TrackRequestDeserializerTests
{
    private static readonly Dictionary<string, (byte[] Bytes, bool Canonical)> Cases = BuildCases();

    public static TheoryData<string> CaseNames()
    {
        var names = new TheoryData<string>();
        foreach (var name in Cases.Keys)
            names.Add(name);
        return names;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Reads_what_protobuf_reads(string name)
    {
        var (bytes, canonical) = Cases[name];

        AssertSameAsProtobuf(bytes);
        // The hand reader takes exactly the shapes it should, so the check above covers it
        // (canonical) or the fallback (the rest).
        Assert.Equal(canonical, TrackRequestReader.TryRead(bytes, bytes.Length) is not null);
    }

    [Fact]
    public void Reads_payloads_split_into_many_segments()
    {
        foreach (var (bytes, _) in Cases.Values)
        {
            AssertSameAsProtobuf(bytes, segmentLength: 3);
            AssertSameAsProtobuf(bytes, segmentLength: 1000);
        }
    }

    [Fact]
    public void Every_truncation_of_a_frame_reads_or_fails_as_protobuf_does()
    {
        var frame = RawFrame(9, width: 4, height: 2);
        frame.Prompts.Add(RlePrompt(3));
        frame.RemoveObjectIds.Add([5, 600]);
        var bytes = Request(frame);

        for (var length = 0; length < bytes.Length; length++)
            AssertSameAsProtobuf(bytes[..length]);
    }

    [Fact]
    public void Corrupted_frames_read_or_fail_as_protobuf_does()
    {
        var frame = EncodedFrame(3, imageBytes: 40);
        frame.Prompts.Add(PngPrompt(1));
        frame.RemoveObjectIds.Add(2);
        var original = Request(frame);
        var random = new Random(5);

        for (var i = 0; i < 500; i++)
        {
            var bytes = (byte[])original.Clone();
            for (var changes = random.Next(1, 4); changes > 0; changes--)
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            AssertSameAsProtobuf(bytes);
        }
    }

    private static void AssertSameAsProtobuf(byte[] bytes, int segmentLength = int.MaxValue)
    {
        var expected = Outcome(() => TrackRequest.Parser.ParseFrom(bytes));
        var actual = Outcome(() => TrackRequestDeserializer.Deserialize(new PayloadContext(bytes, segmentLength)));

        if (expected.Error is { } error)
        {
            Assert.NotNull(actual.Error);
            Assert.Equal(error.GetType(), actual.Error.GetType());
            Assert.Equal(error.Message, actual.Error.Message);
        }
        else
        {
            Assert.Null(actual.Error);
            Assert.Equal(expected.Request, actual.Request);
            if (actual.Request?.Frame is { } frame)
                FramePayloads.Release(frame);
        }
    }

    private static (TrackRequest? Request, Exception? Error) Outcome(Func<TrackRequest> parse)
    {
        try
        {
            return (parse(), null);
        }
        catch (Exception e)
        {
            return (null, e);
        }
    }

    private static Dictionary<string, (byte[], bool)> BuildCases()
    {
        var start = new TrackStart
        {
            Model = "resnet18-lp",
            Memory = new MemoryOptions { Capacity = 4, FixFirstFrame = false, Decay = DecayType.None, DecayRatio = 12.5f },
            Output = new OutputOptions { MaskEncoding = MaskEncoding.Png, Layout = MaskLayout.Index, Width = 320, Height = 200, IncludeLogits = true },
            Live = true,
        };
        var startRequest = new TrackRequest { Start = start }.ToByteArray();
        var encoded = EncodedFrame(7);
        var raw = RawFrame(8);
        var prompted = EncodedFrame(1, imageBytes: 700);
        prompted.Prompts.Add([PngPrompt(0), RlePrompt(2)]);
        var packed = EncodedFrame(2, imageBytes: 64);
        packed.RemoveObjectIds.Add([1, 300, uint.MaxValue]);
        var oddFormat = RawFrame(4);
        oddFormat.Image.Raw.Format = (PixelFormat)7;
        var rawBody = raw.Image.Raw.ToByteArray();
        var imageBody = encoded.Image.ToByteArray();
        var truncatedPrompt = PngPrompt(1).ToByteArray()[..^3];

        return new()
        {
            // The shapes clients send: read by hand.
            ["empty message"] = ([], true),
            ["start with every option"] = (startRequest, true),
            ["start without options"] = (new TrackRequest { Start = new TrackStart() }.ToByteArray(), true),
            ["frame with an encoded image"] = (Request(encoded), true),
            ["frame with the largest index"] = (Request(EncodedFrame(ulong.MaxValue, 10)), true),
            ["frame with a raw image"] = (Request(raw), true),
            ["frame with a raw image without data"] = (Request(new TrackFrame { Image = new Image { Raw = new RawImage { Width = 3 } } }), true),
            ["frame with an unknown pixel format"] = (Request(oddFormat), true),
            ["frame with an empty encoded image"] = (Request(new TrackFrame { FrameIndex = 5, Image = new Image { Encoded = ByteString.Empty } }), true),
            ["frame without an image"] = (Request(new TrackFrame { FrameIndex = 5 }), true),
            ["empty frame"] = (Request(new TrackFrame()), true),
            ["frame with PNG and RLE prompts"] = (Request(prompted), true),
            ["frame with packed removals"] = (Request(packed), true),
            ["frame with unpacked removals"] = (FrameRequest(Wire(o =>
            {
                Varint(o, TrackFrame.FrameIndexFieldNumber, 3);
                Bytes(o, TrackFrame.ImageFieldNumber, imageBody);
                Varint(o, TrackFrame.RemoveObjectIdsFieldNumber, 4);
                Varint(o, TrackFrame.RemoveObjectIdsFieldNumber, 70000);
            })), true),
            ["frame with packed and unpacked removals"] = (FrameRequest(Wire(o =>
            {
                Varint(o, TrackFrame.RemoveObjectIdsFieldNumber, 9);
                Bytes(o, TrackFrame.RemoveObjectIdsFieldNumber, [1, 0x80, 0x01]);
                Varint(o, TrackFrame.RemoveObjectIdsFieldNumber, 2);
            })), true),
            ["frame with its fields out of order"] = (FrameRequest(Wire(o =>
            {
                Bytes(o, TrackFrame.PromptsFieldNumber, RlePrompt(5).ToByteArray());
                Bytes(o, TrackFrame.ImageFieldNumber, imageBody);
                Varint(o, TrackFrame.RemoveObjectIdsFieldNumber, 1);
                Varint(o, TrackFrame.FrameIndexFieldNumber, 11);
            })), true),

            // Legal but unusual: left to the generated parser, with the same result.
            ["unknown field in the request"] = (Concat(Request(encoded), Wire(o => Varint(o, 9, 5))), false),
            ["unknown field in the frame"] = (FrameRequest(Concat(encoded.ToByteArray(), Wire(o => Varint(o, 15, 1)))), false),
            ["unknown field in the image"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber, Concat(imageBody, Wire(o => Bytes(o, 3, [1, 2])))))), false),
            ["unknown field in the raw image"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber,
                Wire(o => Bytes(o, Image.RawFieldNumber, Concat(rawBody, Wire(o => Varint(o, 6, 1)))))))), false),
            ["frame index twice"] = (FrameRequest(Concat(encoded.ToByteArray(), Wire(o => Varint(o, TrackFrame.FrameIndexFieldNumber, 99)))), false),
            ["image twice, merged"] = (FrameRequest(Concat(encoded.ToByteArray(), Wire(o => Bytes(o, TrackFrame.ImageFieldNumber, raw.Image.ToByteArray())))), false),
            ["encoded and raw in one image"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber, Concat(imageBody, raw.Image.ToByteArray())))), false),
            ["raw width twice"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber,
                Wire(o => Bytes(o, Image.RawFieldNumber, Concat(rawBody, Wire(o => Varint(o, RawImage.WidthFieldNumber, 2)))))))), false),
            ["raw data twice"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber,
                Wire(o => Bytes(o, Image.RawFieldNumber, Concat(rawBody, Wire(o => Bytes(o, RawImage.DataFieldNumber, [9, 9])))))))), false),
            ["start then frame"] = (Concat(startRequest, Request(encoded)), false),
            ["frame then start"] = (Concat(Request(encoded), startRequest), false),
            ["frame twice, merged"] = (Concat(Request(encoded), Request(packed)), false),
            ["frame index with the wrong wire type"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.FrameIndexFieldNumber, [1, 2, 3]))), false),
            ["encoded image with the wrong wire type"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber, Wire(o => Varint(o, Image.EncodedFieldNumber, 5))))), false),
            ["removed id over 32 bits"] = (FrameRequest(Wire(o => Varint(o, TrackFrame.RemoveObjectIdsFieldNumber, 1UL << 33))), false),
            ["raw width over 32 bits"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.ImageFieldNumber,
                Wire(o => Bytes(o, Image.RawFieldNumber, Wire(o => Varint(o, RawImage.WidthFieldNumber, (1UL << 32) + 5))))))), false),
            ["frame index with bits past the 64th"] = (FrameRequest([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), false),

            // Malformed: protobuf's exception, from the generated parser.
            ["truncated inside the image"] = (Request(encoded)[..^10], false),
            ["length past the end"] = ([0x12, 0x64, 0x08, 0x01], false),
            ["tag zero"] = ([0x00], false),
            ["varint longer than ten bytes"] = (Enumerable.Repeat((byte)0xFF, 11).ToArray(), false),
            ["truncated prompt in a whole frame"] = (FrameRequest(Wire(o => Bytes(o, TrackFrame.PromptsFieldNumber, truncatedPrompt))), false),
            ["end-group tag"] = ([0x0C], false),
            ["garbage"] = (Garbage(64), false),
        };
    }

    private static byte[] Garbage(int length)
    {
        var bytes = new byte[length];
        new Random(11).NextBytes(bytes);
        return bytes;
    }
}
