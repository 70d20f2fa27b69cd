using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sine.V1;

namespace SineGrpc.Bench;

/// <summary>
/// N concurrent Track streams over loopback, each sending the whole clip one frame at a
/// time (the next frame when the last reply is in), as a camera client would.
/// </summary>
internal static class ServiceRun
{
    public sealed record Result(int Streams, int Frames, double Seconds, LatencyStats Latency);

    public static async Task<Result> RunAsync(string address, BenchFrames frames, int streams)
    {
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
        var client = new Segmentation.SegmentationClient(channel);
        var latency = new LatencyStats();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(() => StreamAsync(client, frames, latency))));
        return new Result(streams, latency.Count, clock.Elapsed.TotalSeconds, latency);
    }

    private static async Task StreamAsync(Segmentation.SegmentationClient client, BenchFrames frames, LatencyStats latency)
    {
        using var call = client.Track();
        await call.RequestStream.WriteAsync(new TrackRequest { Start = new TrackStart() });
        for (var t = 0; t < frames.Jpegs.Count; t++)
        {
            var frame = new TrackFrame { FrameIndex = (ulong)t, Image = new Image { Encoded = UnsafeByteOperations.UnsafeWrap(frames.Jpegs[t]) } };
            if (t == 0)
                frame.Prompts.Add(new Prompt { ObjectId = 1, Mask = new Mask { Png = UnsafeByteOperations.UnsafeWrap(frames.MaskPng) } });
            var sent = Stopwatch.GetTimestamp();
            await call.RequestStream.WriteAsync(new TrackRequest { Frame = frame });
            if (!await call.ResponseStream.MoveNext(CancellationToken.None))
                throw new InvalidOperationException("the stream ended early");
            var reply = call.ResponseStream.Current;
            if (reply.Error is not null)
                throw new InvalidOperationException($"frame {t}: {reply.Error.Status} {reply.Error.Message}");
            if (t > 0)
                latency.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
    }
}
