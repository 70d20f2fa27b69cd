using SineGrpc.Client.Cli;
using SineGrpc.Client.Frames;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary><c>sine track</c>: streams a video to the server and writes the masks it returns.</summary>
internal sealed class TrackCommand(TrackOptions options, TextWriter stderr, bool stderrIsTerminal)
{
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
        var stream = new TrackStream(
            client,
            start,
            new FrameEncoder(options.Encoding, options.JpegQuality),
            prompts,
            new TrackOutput(options.Output, overlay, stats, progress),
            keepImages: overlay is not null);

        var finished = false;
        try
        {
            await stream.RunAsync(source.ReadFrames(), cancellationToken);
            finished = true;
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
