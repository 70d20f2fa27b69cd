using System.Globalization;
using Grpc.Core;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Frames;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary><c>sine track</c>: streams a video to the server and writes the masks it returns.</summary>
internal sealed class TrackCommand(TrackOptions options, TextWriter stderr, bool stderrIsTerminal)
{
    /// <summary>The longest wait before a new stream; the waits double from 1 s up to it.</summary>
    private static readonly TimeSpan MaxResumeDelay = TimeSpan.FromSeconds(8);

    private static readonly TimeSpan ModelInfoTimeout = TimeSpan.FromSeconds(15);

    public async Task<int> RunAsync(Segmentation.SegmentationClient client, CancellationToken cancellationToken)
    {
        var prompts = PromptPlan.Create(options.Mask, options.PromptsFolder);
        using var source = FrameSources.Open(options.Input, options.MaxFrames);
        // Refusals that need the frames come before anything is created or sent.
        CheckPromptsMatchFrames(prompts, source);
        CheckMaskSize(prompts, source);
        if (options.Overlay is not null)
        {
            OverlayWriter.CheckCanCreate(options.Overlay);
        }
        FolderPaths.CreateOutput("output", options.Output);

        using var overlay = options.Overlay is null ? null : new OverlayWriter(options.Overlay, source.FramesPerSecond ?? 24);

        var stats = new TrackStats();
        var progress = new ProgressReporter(stderr, source.FrameCount, inPlace: stderrIsTerminal);
        var start = new TrackStart
        {
            Model = options.Model ?? "",
            // Memory left unset: the model's defaults. Output spelled out: the client decodes COCO RLE per object.
            Output = new OutputOptions { MaskEncoding = MaskEncoding.CocoRle, Layout = MaskLayout.PerObject },
            Live = options.Live,
        };
        var pacer = options.FramesPerSecond is { } rate ? new FramePacer(rate, TimeProvider.System) : null;
        var resume = options.Resumes == 0 ? ResumeMode.None : await ResumeModeAsync(client, cancellationToken);
        // On a token-memory model every reply carries the stream's state, a few KB per object,
        // so a stream the server ends early goes on from the last one with nothing sent again.
        start.ReturnState = resume == ResumeMode.State;
        using var frames = new TrackFrames(source.ReadFrames(), new FrameEncoder(options.Encoding, options.JpegQuality), prompts,
            keepImages: overlay is not null, resume);
        var output = new TrackOutput(options.Output, overlay, stats, progress);

        var finished = false;
        try
        {
            for (var resumes = 0; ; resumes++)
            {
                try
                {
                    await new TrackStream(client, start, output, pacer).RunAsync(frames, cancellationToken);
                    finished = true;
                    break;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && stats.Frames > 0 && resumes < options.Resumes)
                {
                    // Frames were answered, so the address is right: the server (or the way to it)
                    // ended the stream, as a draining pod does, and the stream's memory is gone.
                    var delay = TimeSpan.FromSeconds(Math.Min(MaxResumeDelay.TotalSeconds, Math.Pow(2, resumes)));
                    var replayed = frames.PrepareNewStream();
                    start = start.Clone();
                    start.ResumeState = frames.LastState;
                    var how = frames.LastState.IsEmpty
                        ? $"gets {replayed} answered frame(s) again to rebuild the objects' memory"
                        : $"goes on from the objects' memory after frame {frames.LastStateFrame} (no frame sent again)";
                    progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"warning: the stream ended with UNAVAILABLE ({ex.Status.Detail}); in {delay.TotalSeconds:F0} s a new stream " +
                        $"{how}, then frame {frames.FirstUnanswered} on (resume {resumes + 1} of {options.Resumes})"));
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
        if (options.Mask is null && !prompts.AnyPromptSent)
        {
            // Only a video gets here (a folder's names are checked up front): every mask is blank.
            progress.WriteLine($"warning: no mask in --prompts {options.PromptsFolder} is named after a frame that was sent " +
                "(a video's frames are named 00000, 00001, ...), so no object was tracked");
            return ExitCodes.Failure;
        }
        return stats.FrameErrors > 0 ? ExitCodes.FrameErrors : ExitCodes.Success;
    }

    /// <summary>
    /// How a stream the server ends early is resumed: from the last reply's state where the
    /// model has one (token memory), else by sending answered frames again.
    /// </summary>
    private async Task<ResumeMode> ResumeModeAsync(Segmentation.SegmentationClient client, CancellationToken cancellationToken)
    {
        var info = await client.GetModelInfoAsync(new GetModelInfoRequest { Model = options.Model ?? "" },
            deadline: DateTime.UtcNow + ModelInfoTimeout, cancellationToken: cancellationToken);
        return info.MemoryKind == "tokens" ? ResumeMode.State : ResumeMode.Replay;
    }

    /// <summary>
    /// Without --mask, objects come only from prompt files named after frames: when none is,
    /// the run would only write blank masks. A video's frame names are known only as it is read.
    /// </summary>
    private void CheckPromptsMatchFrames(PromptPlan prompts, IFrameSource source)
    {
        if (options.Mask is not null || source.FrameNames is not { Count: > 0 } names || prompts.MatchesAnyFrame(names))
        {
            return;
        }
        var found = prompts.PromptFileCount == 0 ? "holds no .png masks" : "holds no mask named after a frame of --input";
        throw new UsageException(
            $"--prompts {options.PromptsFolder} {found}; each mask is named after the frame it goes on, e.g. {names[0]}.png for the first frame");
    }

    /// <summary>The server's mask size rule, checked before streaming when the first frame's size is known.</summary>
    private void CheckMaskSize(PromptPlan prompts, IFrameSource source)
    {
        if (prompts.FirstFramePrompt is not { } prompt || source.FirstFrameSize() is not { } frame)
        {
            return;
        }
        // The mask was read (and its header checked) when the plan was made.
        var mask = PngHeader.Read(prompt.Mask.Png.Span);
        if (!MaskSizeRule.Fits(mask.Width, mask.Height, frame.Width, frame.Height))
        {
            throw new UsageException(
                $"--mask {options.Mask} is {mask.Width}x{mask.Height}, but the first frame {source.FrameNames?[0]} is {frame.Width}x{frame.Height}; " +
                "a mask must have its frame's size, give or take one pixel in width and height");
        }
    }
}
