using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Sine.V1;
using SineGrpc.Server.Services;
using SineGrpc.Server.Transport;
using static SineGrpc.Server.Tests.Transport.TrackRequestWire;

namespace SineGrpc.Server.Tests.Transport;

/// <summary>Frames' image bytes stay in the pooled payload buffer until released, and only then go back.</summary>
public sealed class FramePayloadsTests
{
    [Fact]
    public void Encoded_image_points_into_the_pooled_payload_until_released()
    {
        var payload = Request(EncodedFrame(7));
        var frame = Deserialize(payload).Frame;

        Assert.True(FramePayloads.IsPooled(frame));
        var image = frame.Image.Encoded;
        Assert.Equal(EncodedFrame(7).Image.Encoded, image);
        // Not an array of its own: a slice, past the field tags, of a buffer that holds the whole payload.
        Assert.True(MemoryMarshal.TryGetArray(image.Memory, out var segment));
        Assert.True(segment.Offset > 0);
        Assert.True(segment.Array!.Length >= payload.Length);
        Assert.Equal(payload, segment.Array[..payload.Length]);

        FramePayloads.Release(frame);

        Assert.False(FramePayloads.IsPooled(frame));
        Assert.Null(frame.Image);
        FramePayloads.Release(frame);
        Assert.Null(frame.Image);
    }

    [Fact]
    public void Raw_pixels_point_into_the_pooled_payload()
    {
        var payload = Request(RawFrame(3));
        var frame = Deserialize(payload, segmentLength: 50).Frame;

        Assert.True(FramePayloads.IsPooled(frame));
        Assert.Equal(RawFrame(3).Image, frame.Image);
        Assert.True(MemoryMarshal.TryGetArray(frame.Image.Raw.Data.Memory, out var segment));
        Assert.Equal(payload, segment.Array![..payload.Length]);

        FramePayloads.Release(frame);
        Assert.Null(frame.Image);
    }

    [Fact]
    public void Messages_without_image_bytes_keep_no_buffer()
    {
        Assert.False(FramePayloads.IsPooled(Deserialize(Request(new TrackFrame { FrameIndex = 1 })).Frame));
        Assert.False(FramePayloads.IsPooled(Deserialize(Request(new TrackFrame { Image = new Image { Encoded = ByteString.Empty } })).Frame));
        // A frame the generated parser read (here for its unknown field) owns copies.
        var unusual = Deserialize(FrameRequest(Concat(EncodedFrame(2).ToByteArray(), Wire(o => Varint(o, 15, 1))))).Frame;
        Assert.False(FramePayloads.IsPooled(unusual));
        Assert.False(MemoryMarshal.TryGetArray(unusual.Image.Encoded.Memory, out ArraySegment<byte> copy) && copy.Offset > 0);
    }

    [Fact]
    public void Releasing_a_frame_built_in_code_changes_nothing()
    {
        var frame = EncodedFrame(4);

        FramePayloads.Release(frame);

        Assert.Equal(EncodedFrame(4).Image, frame.Image);
    }

    [Fact]
    public void Racing_releases_return_the_buffer_once()
    {
        for (var round = 0; round < 50; round++)
        {
            var frame = Deserialize(Request(EncodedFrame((ulong)round))).Frame;
            Parallel.For(0, 4, _ => FramePayloads.Release(frame));
            Assert.Null(frame.Image);
            Assert.False(FramePayloads.IsPooled(frame));
        }
    }

    [Fact]
    public void A_frame_never_released_is_still_collected()
    {
        var frame = UnreleasedFrame();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(frame.IsAlive);
    }

    [Fact]
    public async Task Live_queue_releases_the_frames_it_skips()
    {
        var queue = new LiveFrameQueue(capacity: 8);
        var prompted = Deserialize(Request(WithPrompt(EncodedFrame(0)))).Frame;
        var stale = Deserialize(Request(EncodedFrame(1))).Frame;
        var newest = Deserialize(Request(EncodedFrame(2))).Frame;

        await queue.AddAsync(prompted, CancellationToken.None);
        await queue.AddAsync(stale, CancellationToken.None);
        await queue.AddAsync(newest, CancellationToken.None);

        Assert.False(FramePayloads.IsPooled(stale));
        Assert.Null(stale.Image);
        Assert.True(FramePayloads.IsPooled(prompted));     // never skipped: it carries a prompt
        Assert.True(FramePayloads.IsPooled(newest));
        Assert.Same(prompted, (await queue.TakeAsync(CancellationToken.None))!.Frame);
        Assert.True((await queue.TakeAsync(CancellationToken.None))!.Skipped);
        Assert.Same(newest, (await queue.TakeAsync(CancellationToken.None))!.Frame);
    }

    [Fact]
    public async Task Live_queue_holds_few_frames_with_bytes_and_makes_a_flooding_client_wait()
    {
        // Prompted frames cannot be skipped: beyond the frames it may hold, the reader waits
        // (and HTTP/2 flow control holds back the client) until the stream serves one.
        var queue = new LiveFrameQueue(capacity: 8, framesHeld: 2);
        var frames = Enumerable.Range(0, 3).Select(i => Deserialize(Request(WithPrompt(EncodedFrame((ulong)i)))).Frame).ToList();
        await queue.AddAsync(frames[0], CancellationToken.None);
        await queue.AddAsync(frames[1], CancellationToken.None);

        var third = queue.AddAsync(frames[2], CancellationToken.None);
        await Task.Delay(200);
        Assert.False(third.IsCompleted);
        Assert.Same(frames[0], (await queue.TakeAsync(CancellationToken.None))!.Frame);
        await third.WaitAsync(TimeSpan.FromSeconds(10));

        // Plain frames make room for themselves: the one waiting before is skipped.
        Assert.Same(frames[1], (await queue.TakeAsync(CancellationToken.None))!.Frame);
        var plain = Deserialize(Request(EncodedFrame(3))).Frame;
        var newest = Deserialize(Request(EncodedFrame(4))).Frame;
        await queue.AddAsync(plain, CancellationToken.None);
        await queue.AddAsync(newest, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Same(frames[2], (await queue.TakeAsync(CancellationToken.None))!.Frame);
        Assert.True((await queue.TakeAsync(CancellationToken.None))!.Skipped);
        Assert.Same(newest, (await queue.TakeAsync(CancellationToken.None))!.Frame);
    }

    private static TrackRequest Deserialize(byte[] payload, int segmentLength = int.MaxValue) =>
        TrackRequestDeserializer.Deserialize(new PayloadContext(payload, segmentLength));

    private static TrackFrame WithPrompt(TrackFrame frame)
    {
        frame.Prompts.Add(PngPrompt(1));
        return frame;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference UnreleasedFrame()
    {
        var frame = Deserialize(Request(EncodedFrame(5))).Frame;
        Assert.True(FramePayloads.IsPooled(frame));
        return new WeakReference(frame);
    }
}
