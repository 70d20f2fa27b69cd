using Sine.V1;

namespace SineGrpc.Bench;

/// <summary>
/// What a pod's memory holds per stream: N streams on a fresh server, each served until
/// its memory is full, then held open together while the server's resident memory is read.
/// </summary>
internal static class MemoryRun
{
    /// <summary>Resident bytes of the server: idle, with every stream open and full, and at its highest.</summary>
    public sealed record Result(int Streams, long IdleBytes, long HeldBytes, long PeakBytes);

    public static async Task<Result> RunAsync(ServiceProcess service, BenchFrames frames, int streams, int framesPerStream, uint memoryCapacity)
    {
        var (idle, _) = service.ReadWorkingSet();
        using var channel = BenchTrackCall.OpenChannel(service.GrpcAddress);
        var client = new Segmentation.SegmentationClient(channel);
        var calls = new List<BenchTrackCall>();
        try
        {
            // All streams run at once, as the pod would serve them: the peak includes
            // every stream's frame at work, not only what the streams keep.
            await Task.WhenAll(Enumerable.Range(0, streams).Select(async s =>
            {
                var call = await BenchTrackCall.StartAsync(client, memoryCapacity);
                lock (calls)
                    calls.Add(call);
                for (var t = 0; t < framesPerStream; t++)
                    await call.ServeAsync(frames, frameIndex: t, clipIndex: (s * framesPerStream + t) % frames.Jpegs.Count, prompt: t == 0);
            }));
            var (held, peak) = service.ReadWorkingSet();
            foreach (var call in calls)
                await call.CompleteAsync();
            return new Result(streams, idle, held, peak);
        }
        finally
        {
            calls.ForEach(c => c.Dispose());
        }
    }
}
