using System.Diagnostics;
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
        using var channel = BenchTrackCall.OpenChannel(service.GrpcAddress);
        using var call = await BenchTrackCall.StartAsync(new Segmentation.SegmentationClient(channel));

        var checkpoints = new List<Checkpoint>();
        var previous = await service.ScrapeAsync();
        var clock = Stopwatch.StartNew();
        var sinceCheckpoint = 0;
        for (var t = 0; t < totalFrames; t++)
        {
            await call.ServeAsync(frames, frameIndex: t, clipIndex: PingPong(t, frames.Jpegs.Count), prompt: t == 0);
            sinceCheckpoint++;
            if ((t + 1) % every != 0 && t + 1 != totalFrames)
                continue;

            var seconds = clock.Elapsed.TotalSeconds;
            var now = await service.ScrapeAsync();
            var allocated = ScrapedMetrics.Delta(previous, now, "dotnet_gc_heap_total_allocated");
            var checkpoint = new Checkpoint(t + 1, sinceCheckpoint, sinceCheckpoint / seconds, ScrapedMetrics.Sum(now, "dotnet_process_memory_working_set"),
                ScrapedMetrics.Sum(now, "dotnet_gc_last_collection_heap_size"), ScrapedMetrics.Sum(now, "dotnet_gc_last_collection_memory_committed_size"),
                ScrapedMetrics.Sum(now, "dotnet_gc_collections"), allocated / sinceCheckpoint);
            checkpoints.Add(checkpoint);
            report(checkpoint);
            (previous, sinceCheckpoint) = (now, 0);
            clock.Restart();
        }
        await call.CompleteAsync();
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
}
