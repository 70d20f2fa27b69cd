using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sine.V1;

namespace SineGrpc.Bench;

/// <summary>
/// N concurrent Track streams over loopback. The clip is cut into N contiguous segments,
/// one per stream, each prompted on its first frame, so every run serves the same frames
/// whatever N; a stream sends its next frame when the last reply is in, as a camera
/// client would.
/// </summary>
internal static class ServiceRun
{
    public sealed record Result(int Streams, int Frames, double Seconds, LatencyStats Latency);

    /// <param name="framesPerStream">Serve only this many frames of each segment (a short warm-up), or all of them.</param>
    public static async Task<Result> RunAsync(string address, BenchFrames frames, int streams, int framesPerStream = int.MaxValue)
    {
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
        var client = new Segmentation.SegmentationClient(channel);
        var latency = new LatencyStats();
        var served = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(s => Task.Run(async () =>
        {
            var (first, end) = (s * frames.Jpegs.Count / streams, (s + 1) * frames.Jpegs.Count / streams);
            var count = Math.Min(end - first, framesPerStream);
            await StreamAsync(client, frames, first, count, latency);
            Interlocked.Add(ref served, count);
        })));
        return new Result(streams, served, clock.Elapsed.TotalSeconds, latency);
    }

    private static async Task StreamAsync(Segmentation.SegmentationClient client, BenchFrames frames, int first, int count, LatencyStats latency)
    {
        using var call = client.Track();
        await call.RequestStream.WriteAsync(new TrackRequest { Start = new TrackStart() });
        for (var t = first; t < first + count; t++)
        {
            var frame = new TrackFrame { FrameIndex = (ulong)t, Image = new Image { Encoded = UnsafeByteOperations.UnsafeWrap(frames.Jpegs[t]) } };
            if (t == first)
                frame.Prompts.Add(new Prompt { ObjectId = 1, Mask = new Mask { Png = UnsafeByteOperations.UnsafeWrap(frames.MaskPng) } });
            var sent = Stopwatch.GetTimestamp();
            await call.RequestStream.WriteAsync(new TrackRequest { Frame = frame });
            if (!await call.ResponseStream.MoveNext(CancellationToken.None))
                throw new InvalidOperationException("the stream ended early");
            var reply = call.ResponseStream.Current;
            if (reply.Error is not null)
                throw new InvalidOperationException($"frame {t}: {reply.Error.Status} {reply.Error.Message}");
            // The prompted frame also stores the prompt: it is not a steady-state frame.
            if (t > first)
                latency.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
    }
}
