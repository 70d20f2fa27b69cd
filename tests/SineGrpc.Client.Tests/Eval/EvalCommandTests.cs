using OpenCvSharp;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Eval;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Eval;

/// <summary>
/// The whole eval command on a synthetic DAVIS folder, against the fake server (which answers
/// object 1 with rows 10..29 on every frame), and the scorer on the real annotations.
/// </summary>
public sealed class EvalCommandTests : IDisposable
{
    private const int Width = 64, Height = 48;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A mask whose rows [top, top + rows) are <paramref name="value"/>.</summary>
    private static byte[] Rows(int top, int rows, byte value)
    {
        var pixels = new byte[Width * Height];
        Array.Fill(pixels, value, top * Width, rows * Width);
        return pixels;
    }

    private static void WriteGray(string path, byte[] pixels)
    {
        using var image = Mat.FromPixelData(Height, Width, MatType.CV_8UC1, pixels);
        Cv2.ImWrite(path, image);
    }

    /// <summary>
    /// Sequence "a" (6 frames, 0/255 masks): object rows 10..29 on frames 0-2, rows 15..34 on 3-5.
    /// Sequence "b" (4 frames, palette ids): object 1 rows 10..29 and object 2 rows 40..43.
    /// </summary>
    private string Dataset()
    {
        var root = _temp.File("davis");
        foreach (var (sequence, frames) in new[] { ("a", 6), ("b", 4) })
        {
            var images = Directory.CreateDirectory(Path.Combine(root, "JPEGImages", "480p", sequence)).FullName;
            var masks = Directory.CreateDirectory(Path.Combine(root, "Annotations", "480p", sequence)).FullName;
            for (var i = 0; i < frames; i++)
            {
                using var frame = new Mat(Height, Width, MatType.CV_8UC3, new Scalar(40 * i, 90, 160));
                Cv2.ImWrite(Path.Combine(images, $"{i:D5}.jpg"), frame);
                var name = Path.Combine(masks, $"{i:D5}.png");
                if (sequence == "a")
                {
                    WriteGray(name, Rows(i < 3 ? 10 : 15, 20, 255));
                }
                else
                {
                    var ids = Rows(10, 20, 1);
                    Array.Fill(ids, (byte)2, 40 * Width, 4 * Width);
                    File.WriteAllBytes(name, PalettePngWriter.Encode(Width, Height, ids, DavisPalette.Colors));
                }
            }
        }
        return root;
    }

    [Fact]
    public async Task Scores_every_sequence_and_writes_the_toolkit_csvs()
    {
        var tracker = new FakeTracker();
        var output = _temp.File("out");
        var options = new EvalOptions { Data = Dataset(), Output = output, Server = new Uri("http://localhost:5000") };
        var stdout = new StringWriter();

        var exitCode = await new EvalCommand(options, stdout, new StringWriter(), stderrIsTerminal: false)
            .RunAsync(new FakeSegmentationClient(tracker.Handle), CancellationToken.None);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(10, tracker.Frames.Count);
        // Masks in DAVIS layout, one per frame.
        Assert.Equal(6, Directory.GetFiles(Path.Combine(output, "a"), "*.png").Length);
        Assert.Equal(4, Directory.GetFiles(Path.Combine(output, "b"), "*.png").Length);

        // Sequence a scores frames 1-4: rows 10..29 against the truth 10..29 (frames 1, 2: J = 1)
        // and against 15..34 (frames 3, 4: 15 shared rows of 25, J = 0.6): mean 0.8, decay 1 - 0.6.
        // Sequence b: object 1 always right (J = 1); object 2 never predicted (J = 0, F = 0).
        var perSequence = File.ReadAllLines(Path.Combine(output, "per-sequence_results.csv"));
        Assert.Equal("Sequence,J-Mean,F-Mean", perSequence[0]);
        Assert.Equal(["a_1", "b_1", "b_2"], perSequence.Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal("0.800", perSequence[1].Split(',')[1]);
        Assert.Equal("1.000,1.000", string.Join(",", perSequence[2].Split(',')[1..]));
        Assert.Equal("0.000,0.000", string.Join(",", perSequence[3].Split(',')[1..]));

        var global = File.ReadAllLines(Path.Combine(output, "global_results.csv"));
        Assert.Equal("J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay", global[0]);
        var values = global[1].Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(7, values.Length);
        Assert.Equal((0.8 + 1 + 0) / 3, values[1], 3);         // J mean over the three objects
        Assert.Equal((values[1] + values[4]) / 2, values[0], 3); // J&F
        Assert.Equal((1 + 1 + 0) / 3.0, values[2], 3);           // J recall: 0.6 > 0.5 counts

        var table = stdout.ToString();
        Assert.Contains("Sequence", table);
        Assert.Contains("FPS", table);
        Assert.Contains("J&F-Mean", table);
        Assert.True(File.Exists(Path.Combine(output, "timing.csv")));
    }

    [Fact]
    public async Task Streams_sequences_at_once_and_reports_them_in_the_folders_order()
    {
        // Each call gets its own fake server; a call waits (up to 10 s) until the other is
        // open too, so the two sequences overlap only if the command runs them at once.
        var open = 0;
        var maxOpen = 0;
        var frames = 0;
        using var bothOpen = new SemaphoreSlim(0);
        async Task Handle(System.Threading.Channels.ChannelReader<Sine.V1.TrackRequest> requests,
            System.Threading.Channels.ChannelWriter<Sine.V1.TrackResponse> replies, CancellationToken cancellationToken)
        {
            var now = Interlocked.Increment(ref open);
            InterlockedMax(ref maxOpen, now);
            if (now == 2)
                bothOpen.Release(2);
            await bothOpen.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            var tracker = new FakeTracker();
            try
            {
                await tracker.Handle(requests, replies, cancellationToken);
            }
            finally
            {
                Interlocked.Add(ref frames, tracker.Frames.Count);
                Interlocked.Decrement(ref open);
            }
        }
        var output = _temp.File("out");
        var options = new EvalOptions { Data = Dataset(), Output = output, Server = new Uri("http://localhost:5000"), Streams = 2 };
        var stderr = new StringWriter();

        var exitCode = await new EvalCommand(options, new StringWriter(), stderr, stderrIsTerminal: false)
            .RunAsync(new FakeSegmentationClient(Handle), CancellationToken.None);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(2, maxOpen);
        Assert.Equal(10, frames);
        // The same scores as one stream at a time gives (the test above), in the folder's order.
        var perSequence = File.ReadAllLines(Path.Combine(output, "per-sequence_results.csv"));
        Assert.Equal(["a_1", "b_1", "b_2"], perSequence.Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal("0.800", perSequence[1].Split(',')[1]);
        Assert.Equal("1.000,1.000", string.Join(",", perSequence[2].Split(',')[1..]));
        // Only the sequences' result lines, no interleaved progress lines.
        Assert.All(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches("^[ab]: J&F ", line));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
                return;
        }
    }

    [Theory]
    [InlineData(new[] { 0.0, 2.0, 2.0, 3.0 }, 3.0)]   // one after the other: the sum
    [InlineData(new[] { 0.0, 2.0, 1.0, 3.0 }, 3.0)]   // overlapping: counted once
    [InlineData(new[] { 0.0, 4.0, 1.0, 2.0 }, 4.0)]   // one inside the other
    [InlineData(new[] { 5.0, 6.0, 0.0, 1.0 }, 2.0)]   // out of order, with a gap (scoring) left out
    public void Streaming_time_is_the_union_of_the_sequences_intervals(double[] bounds, double seconds)
    {
        var intervals = bounds.Chunk(2).Select(b => (TimeSpan.FromSeconds(b[0]), TimeSpan.FromSeconds(b[1])));
        Assert.Equal(seconds, EvalCommand.StreamingSeconds(intervals), 9);
    }

    [Fact]
    public void Options_need_an_existing_data_folder()
    {
        var parsed = ArgumentParser.Parse(EvalOptions.Command, ["--data", _temp.File("missing"), "--output", _temp.File("out")]);
        var error = Assert.Throws<UsageException>(() => EvalOptions.FromArguments(parsed));
        Assert.Contains("--data", error.Message);
    }

    [Theory]
    [InlineData(null, 1)]
    [InlineData("4", 4)]
    public void Streams_default_to_one(string? streams, int expected)
    {
        string[] args = ["--data", _temp.Path, "--output", _temp.File("out")];
        var parsed = ArgumentParser.Parse(EvalOptions.Command, streams is null ? args : [.. args, "--streams", streams]);
        Assert.Equal(expected, EvalOptions.FromArguments(parsed).Streams);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    [InlineData("two")]
    public void Streams_out_of_range_are_refused(string streams)
    {
        var parsed = ArgumentParser.Parse(EvalOptions.Command, ["--data", _temp.Path, "--output", _temp.File("out"), "--streams", streams]);
        var error = Assert.Throws<UsageException>(() => EvalOptions.FromArguments(parsed));
        Assert.Contains("--streams", error.Message);
    }

    [Fact]
    public void A_folder_without_the_davis_layout_is_refused_clearly()
    {
        var error = Assert.Throws<CliException>(() => DavisDataset.Open(_temp.Path, "480p", null));
        Assert.Contains("JPEGImages/480p", error.Message);
    }

    [Fact]
    public void Index_png_reader_reads_palette_indices_and_filtered_grayscale()
    {
        var ids = Rows(5, 7, 3);
        var palette = IndexPngReader.Decode(PalettePngWriter.Encode(Width, Height, ids, DavisPalette.Colors));
        Assert.Equal(ids.Select(v => (ushort)v), palette.Values);

        // OpenCV writes grayscale PNGs with adaptive row filters.
        var gray = new byte[Width * Height];
        for (var i = 0; i < gray.Length; i++)
        {
            gray[i] = (byte)(i * 7 % 251);
        }
        var path = _temp.File("gray.png");
        WriteGray(path, gray);
        Assert.Equal(gray.Select(v => (ushort)v), IndexPngReader.Read(path).Values);
    }

    [Fact]
    [Trait("Category", "SharedData")]
    public void Annotations_scored_against_themselves_are_perfect()
    {
        var sequences = DavisDataset.Open(SharedData.Path("davis2016-dev"), "480p", ["car-shadow"]);
        var scores = SequenceScorer.Score(sequences[0], Path.GetDirectoryName(sequences[0].FirstAnnotation)!);

        Assert.Equal(38, scores.ScoredFrames); // 40 frames without the first and the last
        var car = Assert.Single(scores.Objects);
        Assert.Equal("car-shadow_1", car.Name);
        Assert.All(car.J.Concat(car.F), v => Assert.Equal(1.0, v));
        Assert.Empty(scores.Warnings);
    }

    /// <summary>Runs eval on the dataset against a fake server; returns the exception and whether anything was streamed.</summary>
    private async Task<(CliException Error, bool Streamed)> RunRefused(string data)
    {
        var client = new FakeSegmentationClient(new FakeTracker().Handle);
        var options = new EvalOptions { Data = data, Output = _temp.File("out"), Server = new Uri("http://localhost:5000") };

        var error = await Assert.ThrowsAsync<CliException>(() =>
            new EvalCommand(options, new StringWriter(), new StringWriter(), stderrIsTerminal: false).RunAsync(client, CancellationToken.None));
        return (error, client.ServerTask is not null);
    }

    [Fact]
    public async Task A_sequence_of_fewer_than_3_annotations_is_refused_before_anything_is_streamed()
    {
        var data = Dataset();
        var annotations = Path.Combine(data, "Annotations", "480p", "b");
        File.Delete(Path.Combine(annotations, "00002.png"));
        File.Delete(Path.Combine(annotations, "00003.png"));

        var (error, streamed) = await RunRefused(data);

        Assert.StartsWith("sequence b has 2 annotated frame(s); J and F leave out the first and the last, so scoring needs at least 3", error.Message);
        Assert.False(streamed);
    }

    [Fact]
    public async Task Annotations_of_different_sizes_are_refused_before_anything_is_streamed()
    {
        // As in cutie-examples/judo, whose 00005.png is one pixel narrower than the rest.
        var data = Dataset();
        var narrow = new byte[(Width - 1) * Height];
        File.WriteAllBytes(Path.Combine(data, "Annotations", "480p", "b", "00002.png"),
            PalettePngWriter.Encode(Width - 1, Height, narrow, DavisPalette.Colors));

        var (error, streamed) = await RunRefused(data);

        Assert.Equal(
            $"sequence b: annotation 00002.png is {Width - 1}x{Height}, but the first, 00000.png, is {Width}x{Height}; a sequence's annotations must have one size",
            error.Message);
        Assert.False(streamed);
    }

    [Fact]
    public async Task A_first_annotation_without_objects_is_refused_before_anything_is_streamed()
    {
        var data = Dataset();
        File.WriteAllBytes(Path.Combine(data, "Annotations", "480p", "b", "00000.png"),
            PalettePngWriter.Encode(Width, Height, new byte[Width * Height], DavisPalette.Colors));

        var (error, streamed) = await RunRefused(data);

        Assert.Equal("sequence b: the first annotation, 00000.png, holds no object, so there is nothing to track or score", error.Message);
        Assert.False(streamed);
    }

    [Theory]
    [InlineData("")]                              // the dataset itself holds both trees
    [InlineData("Annotations")]
    [InlineData("Annotations/480p/a")]            // where eval would delete the annotations
    [InlineData("JPEGImages/480p/../480p")]
    [InlineData("JPEGImages/480p/a/results")]
    public void An_output_folder_overlapping_the_datasets_inputs_is_refused(string output)
    {
        var data = Dataset();
        var parsed = ArgumentParser.Parse(EvalOptions.Command, ["--data", data, "--output", Path.Combine(data, output)]);

        var error = Assert.Throws<UsageException>(() => EvalOptions.FromArguments(parsed));
        Assert.Contains("overlaps the dataset's", error.Message);
    }

    [Fact]
    public void An_output_folder_beside_the_inputs_is_accepted()
    {
        var data = Dataset();
        var parsed = ArgumentParser.Parse(EvalOptions.Command, ["--data", data, "--output", Path.Combine(data, "results")]);

        Assert.Equal(Path.Combine(data, "results"), EvalOptions.FromArguments(parsed).Output);
    }
}
