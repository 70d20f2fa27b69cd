using System.Diagnostics;
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
    /// <summary>Frames and seconds of the measured part of a run; latency of its frames.</summary>
    public sealed record Result(int Streams, int Frames, double Seconds, LatencyStats Latency, StageMeans Stages);

    /// <summary>
    /// Serves the clip on <paramref name="streams"/> concurrent streams. With
    /// <paramref name="settleFrames"/> &gt; 0, every stream first serves that many frames (its
    /// prompt, its memory filling up), then all wait while <paramref name="settled"/> runs
    /// (the caller reads the server's counters there), and only the rest is measured: the
    /// steady state of long streams, not the start-up of new ones.
    /// </summary>
    /// <param name="framesPerStream">Serve only this many frames of each segment (a warm-up), or all of them.</param>
    public static async Task<Result> RunAsync(string address, BenchFrames frames, int streams, int framesPerStream = int.MaxValue,
        int settleFrames = 0, Func<Task>? settled = null)
    {
        using var channel = BenchTrackCall.OpenChannel(address);
        var client = new Segmentation.SegmentationClient(channel);
        var latency = new LatencyStats();
        var stages = new StageMeans();
        var measured = 0;
        var waiting = streams;
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();

        // The last stream to settle reads the counters and lets everyone go on.
        async Task SettleAsync()
        {
            if (Interlocked.Decrement(ref waiting) == 0)
            {
                try
                {
                    if (settled is not null)
                        await settled();
                    clock.Restart();
                    resume.SetResult();
                }
                catch (Exception e)
                {
                    resume.TrySetException(e);
                }
            }
            await resume.Task;
        }

        await Task.WhenAll(Enumerable.Range(0, streams).Select(s => Task.Run(async () =>
        {
            try
            {
                var (first, end) = (s * frames.Jpegs.Count / streams, (s + 1) * frames.Jpegs.Count / streams);
                var count = Math.Min(end - first, framesPerStream);
                if (settleFrames >= count)
                    throw new ArgumentException($"segments of {count} frames leave nothing to measure after {settleFrames} settling frames: use fewer streams or more frames");
                var served = await StreamAsync(client, frames, first, count, settleFrames > 0 ? first + settleFrames : first + 1, SettleAsync, latency, stages);
                Interlocked.Add(ref measured, served);
            }
            catch (Exception e)
            {
                // A stream that fails before the others are let go would leave them waiting for it.
                resume.TrySetException(e);
                throw;
            }
        })));
        return new Result(streams, measured, clock.Elapsed.TotalSeconds, latency, stages);
    }

    /// <summary>Streams frames [first, first + count); frames from <paramref name="measureFrom"/> on are measured (and counted in the result).</summary>
    private static async Task<int> StreamAsync(Segmentation.SegmentationClient client, BenchFrames frames, int first, int count, int measureFrom,
        Func<Task> settle, LatencyStats latency, StageMeans stages)
    {
        using var call = await BenchTrackCall.StartAsync(client);
        var measured = 0;
        for (var t = first; t < first + count; t++)
        {
            if (t == measureFrom)
                await settle();
            var sent = Stopwatch.GetTimestamp();
            var reply = await call.ServeAsync(frames, frameIndex: t, clipIndex: t, prompt: t == first);
            if (t >= measureFrom)
            {
                latency.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                var s = reply.Timings;
                stages.Add(s.ImageDecodeMs, s.PreprocessMs, s.EncoderMs, s.DecoderMs, s.PostprocessMs, s.MemoryMs, s.TotalMs);
                measured++;
            }
        }
        await call.CompleteAsync();
        return measured;
    }
}
