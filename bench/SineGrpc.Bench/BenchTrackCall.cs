using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sine.V1;

namespace SineGrpc.Bench;

/// <summary>
/// One Track stream as the benchmark drives it: frames of the clip sent one at a time,
/// each reply awaited before the next frame, as a camera client would; a failed frame
/// ends the benchmark.
/// </summary>
internal sealed class BenchTrackCall : IDisposable
{
    private readonly AsyncDuplexStreamingCall<TrackRequest, TrackResponse> _call;

    private BenchTrackCall(AsyncDuplexStreamingCall<TrackRequest, TrackResponse> call) => _call = call;

    /// <summary>A channel whose message limits fit the clip's frames and replies.</summary>
    public static GrpcChannel OpenChannel(string address) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });

    /// <summary>
    /// Opens the stream and sends its <c>start</c>: the model's defaults, but for a memory
    /// of <paramref name="memoryCapacity"/> entries when it is above 0.
    /// </summary>
    public static async Task<BenchTrackCall> StartAsync(Segmentation.SegmentationClient client, uint memoryCapacity = 0)
    {
        var call = client.Track();
        var start = new TrackStart();
        if (memoryCapacity > 0)
            start.Memory = new MemoryOptions { Capacity = memoryCapacity };
        await call.RequestStream.WriteAsync(new TrackRequest { Start = start });
        return new BenchTrackCall(call);
    }

    /// <summary>
    /// Sends the clip's frame <paramref name="clipIndex"/> as frame <paramref name="frameIndex"/>,
    /// with the clip's masks as the prompts of objects 1..K when <paramref name="prompt"/>, and returns its reply.
    /// </summary>
    public async Task<TrackResponse> ServeAsync(BenchFrames frames, int frameIndex, int clipIndex, bool prompt)
    {
        var frame = new TrackFrame { FrameIndex = (ulong)frameIndex, Image = new Image { Encoded = UnsafeByteOperations.UnsafeWrap(frames.Jpegs[clipIndex]) } };
        if (prompt)
        {
            for (var i = 0; i < frames.ObjectMaskPngs.Count; i++)
                frame.Prompts.Add(new Prompt { ObjectId = (uint)i + 1, Mask = new Mask { Png = UnsafeByteOperations.UnsafeWrap(frames.ObjectMaskPngs[i]) } });
        }
        await _call.RequestStream.WriteAsync(new TrackRequest { Frame = frame });
        if (!await _call.ResponseStream.MoveNext(CancellationToken.None))
            throw new InvalidOperationException("the stream ended early");
        var reply = _call.ResponseStream.Current;
        if (reply.Error is { } error)
            throw new InvalidOperationException($"frame {frameIndex}: {error.Status} {error.Message}");
        return reply;
    }

    /// <summary>Ends the stream and reads it to its end.</summary>
    public async Task CompleteAsync()
    {
        await _call.RequestStream.CompleteAsync();
        while (await _call.ResponseStream.MoveNext(CancellationToken.None)) { }
    }

    public void Dispose() => _call.Dispose();
}
