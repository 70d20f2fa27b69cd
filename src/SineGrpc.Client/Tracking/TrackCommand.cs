using System.Globalization;
using Grpc.Core;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Frames;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary><c>sine track</c>: streams a video to the server and writes the masks it returns.</summary>
internal sealed class TrackCommand(TrackOptions options, TextWriter stderr, bool stderrIsTerminal)
{
    /// <summary>The longest wait before a new stream; the waits double from 1 s up to it.</summary>
    private static readonly TimeSpan MaxResumeDelay = TimeSpan.FromSeconds(8);

    public async Task<int> RunAsync(Segmentation.SegmentationClient client, CancellationToken cancellationToken)
    {
        var prompts = PromptPlan.Create(options.Mask, options.PromptsFolder);
        using var source = FrameSources.Open(options.Input, options.MaxFrames);
        Directory.CreateDirectory(options.Output);

        using var overlay = options.Overlay is null ? null : new OverlayWriter(options.Overlay, source.FramesPerSecond ?? 24);

        var stats = new TrackStats();
        var progress = new ProgressReporter(stderr, source.FrameCount, inPlace: stderrIsTerminal);
        var start = new TrackStart
        {
            Model = options.Model ?? "",
            // Memory left unset: the model's defaults. Output spelled out: the client decodes COCO RLE per object.
            Output = new OutputOptions { MaskEncoding = MaskEncoding.CocoRle, Layout = MaskLayout.PerObject },
        };
        using var frames = new TrackFrames(source.ReadFrames(), new FrameEncoder(options.Encoding, options.JpegQuality), prompts,
            keepImages: overlay is not null, keepForReplay: options.Resumes > 0);
        var stream = new TrackStream(client, start, new TrackOutput(options.Output, overlay, stats, progress));

        var finished = false;
        try
        {
            for (var resumes = 0; ; resumes++)
            {
                try
                {
                    await stream.RunAsync(frames, cancellationToken);
                    finished = true;
                    break;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && stats.Frames > 0 && resumes < options.Resumes)
                {
                    // Frames were answered, so the address is right: the server (or the way to it)
                    // ended the stream, as a draining pod does, and the stream's memory is gone.
                    var delay = TimeSpan.FromSeconds(Math.Min(MaxResumeDelay.TotalSeconds, Math.Pow(2, resumes)));
                    var replayed = frames.PrepareNewStream();
                    progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"warning: the stream ended with UNAVAILABLE ({ex.Status.Detail}); in {delay.TotalSeconds:F0} s a new stream " +
                        $"gets {replayed} answered frame(s) again to rebuild the objects' memory, then frame {frames.FirstUnanswered} on " +
                        $"(resume {resumes + 1} of {options.Resumes})"));
                    await Task.Delay(delay, cancellationToken);
                }
            }
        }
        finally
        {
            // Also on failure: how far it got is useful.
            progress.WriteLine(stats.FormatSummary(progress.Elapsed, finished));
        }

        foreach (var unused in prompts.UnusedPromptFiles())
        {
            progress.WriteLine($"warning: prompt {unused} matches no frame that was sent, so it was not used");
        }
        return stats.FrameErrors > 0 ? ExitCodes.FrameErrors : ExitCodes.Success;
    }
}
