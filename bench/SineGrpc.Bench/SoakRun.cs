using System.Diagnostics;
using Google.Protobuf;
using Grpc.Net.Client;
using Sine.V1;

namespace SineGrpc.Bench;

/// <summary>
/// One long Track stream, the clip played forwards and backwards for as many frames as
/// asked, with the server's memory read every few frames: a leak shows as a working set
/// or managed heap that keeps growing once the stream has settled, and a hot-path
/// allocation as managed bytes per frame.
/// </summary>
internal static class SoakRun
{
    /// <summary>The server's state after <c>Frames</c> frames; rates over the last <c>WindowFrames</c>.</summary>
    public sealed record Checkpoint(int Frames, int WindowFrames, double FramesPerSecond, double WorkingSetBytes, double ManagedHeapBytes, double ManagedCommittedBytes, double Collections, double AllocatedBytesPerFrame);

    public static async Task<List<Checkpoint>> RunAsync(ServiceProcess service, BenchFrames frames, int totalFrames, int every, Action<Checkpoint> report)
    {
        using var channel = GrpcChannel.ForAddress(service.GrpcAddress, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
        var client = new Segmentation.SegmentationClient(channel);
        using var call = client.Track();
        await call.RequestStream.WriteAsync(new TrackRequest { Start = new TrackStart() });

        var checkpoints = new List<Checkpoint>();
        var previous = await service.ScrapeAsync();
        var clock = Stopwatch.StartNew();
        var sinceCheckpoint = 0;
        for (var t = 0; t < totalFrames; t++)
        {
            var frame = new TrackFrame { FrameIndex = (ulong)t, Image = new Image { Encoded = UnsafeByteOperations.UnsafeWrap(frames.Jpegs[PingPong(t, frames.Jpegs.Count)]) } };
            if (t == 0)
                frame.Prompts.Add(new Prompt { ObjectId = 1, Mask = new Mask { Png = UnsafeByteOperations.UnsafeWrap(frames.MaskPng) } });
            await call.RequestStream.WriteAsync(new TrackRequest { Frame = frame });
            if (!await call.ResponseStream.MoveNext(CancellationToken.None))
                throw new InvalidOperationException("the stream ended early");
            if (call.ResponseStream.Current.Error is { } error)
                throw new InvalidOperationException($"frame {t}: {error.Status} {error.Message}");
            sinceCheckpoint++;
            if ((t + 1) % every != 0 && t + 1 != totalFrames)
                continue;

            var seconds = clock.Elapsed.TotalSeconds;
            var now = await service.ScrapeAsync();
            var allocated = Sum(now, "dotnet_gc_heap_total_allocated") - Sum(previous, "dotnet_gc_heap_total_allocated");
            var checkpoint = new Checkpoint(t + 1, sinceCheckpoint, sinceCheckpoint / seconds, service.WorkingSetBytes(),
                Sum(now, "dotnet_gc_last_collection_heap_size"), Sum(now, "dotnet_gc_last_collection_memory_committed_size"),
                Sum(now, "dotnet_gc_collections"), allocated / sinceCheckpoint);
            checkpoints.Add(checkpoint);
            report(checkpoint);
            (previous, sinceCheckpoint) = (now, 0);
            clock.Restart();
        }
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        return checkpoints;
    }

    // 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...: the video never jumps, as a real one would not.
    private static int PingPong(int t, int n)
    {
        if (n == 1)
            return 0;
        var period = 2 * (n - 1);
        var phase = t % period;
        return phase < n ? phase : period - phase;
    }

    // A metric summed over its label sets (the heap size comes per generation).
    private static double Sum(Dictionary<string, double> metrics, string name) =>
        metrics.Where(kv => kv.Key == name || kv.Key.StartsWith(name + "{", StringComparison.Ordinal) || kv.Key.StartsWith(name + "_", StringComparison.Ordinal))
            .Where(kv => !kv.Key.Contains("_bucket", StringComparison.Ordinal))
            .Sum(kv => kv.Value);
}
