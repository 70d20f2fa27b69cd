using System.Diagnostics;
using System.Globalization;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Frames;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using SineGrpc.Client.Tracking;
using Sine.V1;

namespace SineGrpc.Client.Eval;

/// <summary>
/// <c>sine eval</c>: streams each DAVIS sequence through Track (the same streaming pieces as
/// <c>sine track</c>), writes the masks, then scores them as the davis2017-evaluation toolkit does.
/// </summary>
internal sealed class EvalCommand(EvalOptions options, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal)
{
    public async Task<int> RunAsync(Segmentation.SegmentationClient client, CancellationToken cancellationToken)
    {
        var sequences = DavisDataset.Open(options.Data, options.Resolution, options.Sequences);
        // A sequence that cannot be scored fails the run now, not after the others have streamed.
        foreach (var sequence in sequences)
        {
            ScorableSequence.Check(sequence);
        }
        FolderPaths.CreateOutput("output", options.Output);

        // Sequences run on up to Streams Track streams at once; results keep the folder's order.
        var runs = new SequenceRun[sequences.Count];
        var streaming = new (TimeSpan Start, TimeSpan End)[sequences.Count];
        var clock = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Streams, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, sequences.Count), parallel, async (i, ct) =>
        {
            var started = clock.Elapsed;
            var run = await RunSequenceAsync(client, sequences[i], ct);
            runs[i] = run;
            streaming[i] = (started, started + TimeSpan.FromSeconds(run.Seconds));
            var jf = EvalReport.GlobalMeasures(run.Scores.Objects)[0];
            lock (stderr)
            {
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{sequences[i].Name}: J&F {100 * jf:F1}, {run.Frames} frames at {run.FramesPerSecond:F2} fps"));
                foreach (var warning in run.Scores.Warnings)
                {
                    stderr.WriteLine($"warning: {warning}");
                }
            }
        });

        var objects = runs.SelectMany(r => r.Scores.Objects).ToList();
        await File.WriteAllTextAsync(Path.Combine(options.Output, "global_results.csv"), EvalReport.GlobalCsv(objects), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(options.Output, "per-sequence_results.csv"), EvalReport.PerSequenceCsv(objects), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(options.Output, "timing.csv"), EvalReport.TimingCsv(runs), cancellationToken);

        stdout.Write(EvalReport.Table(runs));
        var global = EvalReport.GlobalMeasures(objects);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"J&F-Mean {100 * global[0]:F1} (J {100 * global[1]:F1}, F {100 * global[4]:F1}) over {objects.Count} object(s) in {runs.Length} sequence(s); " +
            $"{runs.Sum(r => r.Frames) / Math.Max(1e-9, StreamingSeconds(streaming)):F2} frames per second end to end"));
        stdout.WriteLine($"Results: {Path.Combine(options.Output, "global_results.csv")}, {Path.Combine(options.Output, "per-sequence_results.csv")}");

        return runs.Any(r => r.FrameErrors > 0) ? ExitCodes.FrameErrors : ExitCodes.Success;
    }

    /// <summary>
    /// How long frames were streaming: the union of the sequences' streaming intervals, so
    /// that neither scoring between sequences nor overlapping sequences count twice.
    /// </summary>
    internal static double StreamingSeconds(IEnumerable<(TimeSpan Start, TimeSpan End)> intervals)
    {
        var total = TimeSpan.Zero;
        var coveredUntil = TimeSpan.MinValue;
        foreach (var (start, end) in intervals.OrderBy(i => i.Start))
        {
            var from = start > coveredUntil ? start : coveredUntil;
            if (end > from)
            {
                total += end - from;
                coveredUntil = end;
            }
        }
        return total.TotalSeconds;
    }

    private async Task<SequenceRun> RunSequenceAsync(Segmentation.SegmentationClient client, DavisSequence sequence, CancellationToken cancellationToken)
    {
        var resultsFolder = Path.Combine(options.Output, sequence.Name);
        Directory.CreateDirectory(resultsFolder);
        foreach (var stale in Directory.EnumerateFiles(resultsFolder, "*.png"))
        {
            File.Delete(stale);
        }

        // The prompt is the first annotation as the scorer reads it (void removed, a 0/255 mask
        // as object 1), so that the server tracks exactly the objects that are scored.
        var first = IndexPngReader.Read(sequence.FirstAnnotation);
        var reader = new AnnotationReader(first);
        var promptPath = Path.Combine(Path.GetTempPath(), $"sine-eval-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(promptPath,
            PalettePngWriter.Encode(first.Width, first.Height, reader.Ids(first), DavisPalette.Colors), cancellationToken);
        try
        {
            var prompts = PromptPlan.Create(promptPath, null);
            using var source = FrameSources.Open(sequence.FramesFolder, maxFrames: null);

            var stats = new TrackStats();
            // One sequence's progress line at a time: with several at once, only their results.
            var progress = new ProgressReporter(options.Streams == 1 ? stderr : TextWriter.Null, source.FrameCount, inPlace: stderrIsTerminal);
            var handler = new TimedReplies(new TrackOutput(resultsFolder, null, stats, progress));
            var start = new TrackStart
            {
                Model = options.Model ?? "",
                Output = new OutputOptions { MaskEncoding = MaskEncoding.CocoRle, Layout = MaskLayout.PerObject },
            };
            // No resuming here: a stream that ends early fails the evaluation rather than
            // scoring masks that a rebuilt memory produced.
            using var frames = new TrackFrames(source.ReadFrames(), new Frames.FrameEncoder(options.Encoding, TrackOptions.DefaultJpegQuality),
                prompts, keepImages: false, ResumeMode.None);

            var clock = Stopwatch.StartNew();
            await new TrackStream(client, start, handler).RunAsync(frames, cancellationToken);
            var seconds = clock.Elapsed.TotalSeconds;

            var scores = SequenceScorer.Score(sequence, resultsFolder);
            return new SequenceRun(scores, stats.Frames, seconds, handler.Times, stats.FrameErrors);
        }
        finally
        {
            File.Delete(promptPath);
        }
    }

    /// <summary>Writes the masks as <c>sine track</c> does, and adds up the server's stage times.</summary>
    private sealed class TimedReplies(ITrackReplyHandler inner) : ITrackReplyHandler
    {
        public ServerTimes Times { get; } = new();

        public Task HandleAsync(PendingFrame frame, TrackResponse reply, CancellationToken cancellationToken)
        {
            if (reply.Error is null)
            {
                Times.Add(reply.Timings);
            }
            return inner.HandleAsync(frame, reply, cancellationToken);
        }
    }
}
