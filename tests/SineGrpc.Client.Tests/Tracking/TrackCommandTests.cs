using Grpc.Core;
using OpenCvSharp;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using SineGrpc.Client.Tests.Support;
using SineGrpc.Client.Tracking;
using Sine.V1;

namespace SineGrpc.Client.Tests.Tracking;

/// <summary>The whole track command against an in-memory fake server, on synthetic frames.</summary>
public sealed class TrackCommandTests : IDisposable
{
    private const int Width = 64, Height = 48;
    private readonly TempFolder _temp = new();
    private readonly StringWriter _stderr = new();

    public void Dispose() => _temp.Dispose();

    private string Frames(int count, string extension = ".jpg")
    {
        var folder = Path.Combine(_temp.Path, "frames");
        Directory.CreateDirectory(folder);
        for (var i = 0; i < count; i++)
        {
            using var image = new Mat(Height, Width, MatType.CV_8UC3, new Scalar(i * 10 % 255, 100, 200));
            Cv2.ImWrite(Path.Combine(folder, $"{i:D5}{extension}"), image);
        }
        return folder;
    }

    private string BinaryMask(int width = Width, int height = Height)
    {
        var pixels = new byte[width * height];
        Array.Fill(pixels, (byte)255, 0, width * 4);
        using var image = Mat.FromPixelData(height, width, MatType.CV_8UC1, pixels);
        var path = _temp.File("mask.png");
        Cv2.ImWrite(path, image);
        return path;
    }

    private string Video(int frames)
    {
        var video = _temp.File("clip.mp4");
        using var writer = new VideoWriter(video, FourCC.FromString("mp4v"), 10, new Size(Width, Height));
        Assert.True(writer.IsOpened());
        for (var i = 0; i < frames; i++)
        {
            using var image = new Mat(Height, Width, MatType.CV_8UC3, new Scalar(40 * i, 128, 255 - 40 * i));
            writer.Write(image);
        }
        return video;
    }

    /// <summary>A prompts folder holding a copy of the binary mask under each name.</summary>
    private string Prompts(params string[] names)
    {
        var prompts = Path.Combine(_temp.Path, "prompts");
        Directory.CreateDirectory(prompts);
        foreach (var name in names)
        {
            File.Copy(BinaryMask(), Path.Combine(prompts, name), overwrite: true);
        }
        return prompts;
    }

    private TrackOptions Options(string input, string? mask, string? prompts = null) => new()
    {
        Input = input,
        Mask = mask,
        PromptsFolder = prompts,
        Output = _temp.File("out"),
        Server = new Uri("http://localhost:5000"),
    };

    private Task<int> Run(TrackOptions options, FakeTracker tracker) =>
        new TrackCommand(options, _stderr, stderrIsTerminal: false).RunAsync(new FakeSegmentationClient(tracker.Handle), CancellationToken.None);

    private byte[] OutputIndices(string name)
    {
        var decoded = DecodedPalettePng.Decode(File.ReadAllBytes(Path.Combine(_temp.File("out"), name + ".png")));
        Assert.Equal((Width, Height, 3), (decoded.Width, decoded.Height, decoded.ColourType));
        return decoded.Indices;
    }

    [Fact]
    public async Task Writes_one_index_mask_per_frame()
    {
        var tracker = new FakeTracker();

        var exitCode = await Run(Options(Frames(12), BinaryMask()), tracker);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(12, tracker.Frames.Count);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (ulong)i), tracker.Frames.Select(f => f.FrameIndex));
        // Object 1 (the 0/255 mask sent as object 1) is rows 10..29.
        var expected = FakeTracker.Band(Width, Height, 1);
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(expected, OutputIndices($"{i:D5}"));
        }
        Assert.Contains("Done: 12 frames", _stderr.ToString());
        Assert.Contains("mean server total 5.0 ms/frame", _stderr.ToString());
    }

    [Fact]
    public async Task Sends_start_first_prompts_on_the_first_frame_and_jpeg_files_unchanged()
    {
        var tracker = new FakeTracker();
        var frames = Frames(3);

        await Run(Options(frames, BinaryMask()) with { Model = "sine-small" }, tracker);

        Assert.Equal("sine-small", tracker.Start!.Model);
        Assert.Null(tracker.Start.Memory);
        Assert.Equal(1u, tracker.Frames[0].Prompts.Single().ObjectId);
        Assert.Empty(tracker.Frames[1].Prompts);
        Assert.Equal(File.ReadAllBytes(Path.Combine(frames, "00001.jpg")), tracker.Frames[1].Image.Encoded.ToByteArray());
    }

    [Theory]
    [InlineData("Png", ".jpg")]
    [InlineData("Jpeg", ".png")]
    [InlineData("Raw", ".png")]
    public async Task Reencodes_frames_into_the_chosen_encoding(string encodingName, string extension)
    {
        // The enum is internal, and xunit test methods must be public: hence the name.
        var encoding = Enum.Parse<FrameEncoding>(encodingName);
        var tracker = new FakeTracker();

        await Run(Options(Frames(2, extension), BinaryMask()) with { Encoding = encoding }, tracker);

        var image = tracker.Frames[0].Image;
        switch (encoding)
        {
            case FrameEncoding.Raw:
                Assert.Equal((Width, Height, Width * 3, PixelFormat.Bgr24), ((int)image.Raw.Width, (int)image.Raw.Height, (int)image.Raw.Stride, image.Raw.Format));
                Assert.Equal(Width * Height * 3, image.Raw.Data.Length);
                break;
            case FrameEncoding.Png:
                Assert.Equal(PngColourType.Rgb, PngHeader.Read(image.Encoded.Span).ColourType);
                break;
            default:
                Assert.Equal([0xFF, 0xD8], image.Encoded.Span[..2].ToArray());
                break;
        }
    }

    [Fact]
    public async Task Overlapping_objects_go_to_the_higher_score()
    {
        // Prompts on frames 0 and 2 add objects 1 (a 0/255 mask) and 2 (an index mask, which the fake
        // gives the next id); bands 10..29 and 20..39 overlap on 20..29, where object 1 (score 1) beats
        // object 2 (score 0.5).
        var prompts = Path.Combine(_temp.Path, "prompts");
        Directory.CreateDirectory(prompts);
        File.Copy(BinaryMask(), Path.Combine(prompts, "00000.png"));
        var indexMask = new byte[Width * Height];
        Array.Fill(indexMask, (byte)2, Width * 30, Width);
        File.WriteAllBytes(Path.Combine(prompts, "00002.png"), PalettePngWriter.Encode(Width, Height, indexMask, DavisPalette.Colors));
        var tracker = new FakeTracker();

        await Run(Options(Frames(4), mask: null, prompts), tracker);

        Assert.Equal([1, 0, 1, 0], tracker.Frames.Select(f => f.Prompts.Count));
        var indices = OutputIndices("00003");
        Assert.Equal(1, indices[25 * Width]);
        Assert.Equal(2, indices[35 * Width]);
        Assert.Equal(0, indices[45 * Width]);
    }

    [Fact]
    public async Task Keeps_at_most_8_frames_in_flight()
    {
        var tracker = new FakeTracker { HoldRepliesUntilQuiet = TimeSpan.FromMilliseconds(100) };

        var exitCode = await Run(Options(Frames(20), BinaryMask()), tracker);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(20, tracker.Frames.Count);
        Assert.Equal(TrackStream.MaxFramesInFlight, tracker.MaxOutstanding);
    }

    [Fact]
    public async Task Frame_errors_are_reported_and_the_stream_goes_on()
    {
        var tracker = new FakeTracker { FailFrames = [3] };

        var exitCode = await Run(Options(Frames(6), BinaryMask()), tracker);

        Assert.Equal(ExitCodes.FrameErrors, exitCode);
        Assert.Contains("frame 3 (00003) failed: INVALID_ARGUMENT (3): undecodable image", _stderr.ToString());
        Assert.Contains("1 frame failed", _stderr.ToString());
        Assert.False(File.Exists(Path.Combine(_temp.File("out"), "00003.png")));
        Assert.True(File.Exists(Path.Combine(_temp.File("out"), "00005.png")));
    }

    [Fact]
    public async Task A_live_stream_asks_for_live_mode_and_writes_no_mask_for_skipped_frames()
    {
        var tracker = new FakeTracker { SkipFrames = [2, 3] };

        var exitCode = await Run(Options(Frames(6), BinaryMask()) with { Live = true }, tracker);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.True(tracker.Start!.Live);
        Assert.Equal(["00000.png", "00001.png", "00004.png", "00005.png"], Directory.GetFiles(_temp.File("out")).Select(Path.GetFileName).Order());
        Assert.Contains("Done: 6 frames", _stderr.ToString());
        Assert.Contains("0 frames failed, 2 skipped as stale (no mask)", _stderr.ToString());
    }

    [Fact]
    public async Task Without_live_the_stream_is_not_live()
    {
        var tracker = new FakeTracker();

        Assert.Equal(ExitCodes.Success, await Run(Options(Frames(2), BinaryMask()), tracker));

        Assert.False(tracker.Start!.Live);
        Assert.DoesNotContain("skipped", _stderr.ToString());
    }

    [Fact]
    public async Task Stream_error_from_the_server_is_thrown_with_its_status()
    {
        FakeTrackHandler refuse = async (requests, _, ct) =>
        {
            await requests.ReadAsync(ct);
            throw new RpcException(new Status(StatusCode.NotFound, "unknown model 'nope'"));
        };
        var command = new TrackCommand(Options(Frames(30), BinaryMask()), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<RpcException>(() => command.RunAsync(new FakeSegmentationClient(refuse), CancellationToken.None));

        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Contains("Stopped: 0 frames", _stderr.ToString());
    }

    [Fact]
    public async Task A_stream_the_server_ends_with_unavailable_goes_on_over_a_new_one_with_the_memory_rebuilt()
    {
        var (input, prompts) = await UninterruptedRunAsync();
        var (first, second, twoServers) = TwoServers(endFirstAfter: 10);
        var overlay = _temp.File("resumed.mp4");
        var command = new TrackCommand(Options(input, BinaryMask(), prompts) with { Overlay = overlay }, _stderr, stderrIsTerminal: false);

        Assert.Equal(ExitCodes.Success, await command.RunAsync(new FakeSegmentationClient(twoServers), CancellationToken.None));

        // The new stream: the prompted frames with their prompts, the last 5 answered ones, then
        // every frame from the first unanswered one on.
        Assert.Equal([0UL, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], second.Frames.Select(f => f.FrameIndex));
        Assert.Equal([1, 1, 0, 0], second.Frames.Take(4).Select(f => f.Prompts.Count));
        Assert.Contains("UNAVAILABLE (the server is shutting down)", _stderr.ToString());
        Assert.Contains("gets 7 answered frame(s) again to rebuild the objects' memory, then frame 10 on (resume 1 of 5)", _stderr.ToString());
        Assert.Contains("Done: 16 frames", _stderr.ToString());
        // Each frame's mask written once, as an uninterrupted run writes it.
        var names = Directory.GetFiles(_temp.File("uninterrupted")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(16, names.Count);
        Assert.Equal(names, Directory.GetFiles(_temp.File("out")).Select(Path.GetFileName).Order());
        Assert.All(names, name => Assert.Equal(
            File.ReadAllBytes(Path.Combine(_temp.File("uninterrupted"), name!)), File.ReadAllBytes(Path.Combine(_temp.File("out"), name!))));
        // The overlay too: every frame once, replayed ones not again.
        using var capture = new VideoCapture(overlay);
        Assert.Equal(16, capture.FrameCount);
    }

    [Fact]
    public async Task A_stream_on_a_token_memory_model_goes_on_from_the_last_replys_state_with_nothing_sent_again()
    {
        var (input, prompts) = await UninterruptedRunAsync();
        var (first, second, twoServers) = TwoServers(endFirstAfter: 10);
        var command = new TrackCommand(Options(input, BinaryMask(), prompts), _stderr, stderrIsTerminal: false);

        Assert.Equal(ExitCodes.Success, await command.RunAsync(new FakeSegmentationClient(twoServers, memoryKind: "tokens"), CancellationToken.None));

        Assert.True(first.Start!.ReturnState);
        Assert.True(first.Start.ResumeState.IsEmpty);
        // The new stream starts from the state of frame 9's reply and gets only the frames not answered yet.
        Assert.Equal("objects:1", second.Start!.ResumeState.ToStringUtf8());
        Assert.Equal([10UL, 11, 12, 13, 14, 15], second.Frames.Select(f => f.FrameIndex));
        Assert.Contains("goes on from the objects' memory after frame 9 (no frame sent again), then frame 10 on (resume 1 of 5)", _stderr.ToString());
        var names = Directory.GetFiles(_temp.File("uninterrupted")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(names, Directory.GetFiles(_temp.File("out")).Select(Path.GetFileName).Order());
        Assert.All(names, name => Assert.Equal(
            File.ReadAllBytes(Path.Combine(_temp.File("uninterrupted"), name!)), File.ReadAllBytes(Path.Combine(_temp.File("out"), name!))));
    }

    /// <summary>16 frames, object 1 prompted on frames 0 and 3, tracked without a break into "uninterrupted".</summary>
    private async Task<(string Input, string Prompts)> UninterruptedRunAsync()
    {
        var input = Frames(16);
        var prompts = Path.Combine(_temp.Path, "prompts");
        Directory.CreateDirectory(prompts);
        File.Copy(BinaryMask(), Path.Combine(prompts, "00003.png"));
        var uninterrupted = Options(input, BinaryMask(), prompts) with { Output = _temp.File("uninterrupted") };
        Assert.Equal(ExitCodes.Success, await Run(uninterrupted, new FakeTracker()));
        return (input, prompts);
    }

    /// <summary>A first server that ends its stream with UNAVAILABLE after some answers, and a second that takes the next.</summary>
    private static (FakeTracker First, FakeTracker Second, FakeTrackHandler Handler) TwoServers(int endFirstAfter)
    {
        var first = new FakeTracker { EndWithUnavailableAfter = endFirstAfter };
        var second = new FakeTracker();
        var calls = 0;
        return (first, second, (requests, replies, ct) => (Interlocked.Increment(ref calls) == 1 ? first : second).Handle(requests, replies, ct));
    }

    [Theory]
    [InlineData(0, 5)]  // refused before any answer: the address may be wrong, so it is not retried
    [InlineData(3, 0)]  // resuming turned off
    public async Task Unavailable_is_not_resumed_before_any_answer_or_with_resume_0(int answeredFirst, int resumes)
    {
        var calls = 0;
        FakeTrackHandler ending = (requests, replies, ct) =>
        {
            Interlocked.Increment(ref calls);
            if (answeredFirst == 0)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "connection refused"));
            }
            return new FakeTracker { EndWithUnavailableAfter = answeredFirst }.Handle(requests, replies, ct);
        };
        var command = new TrackCommand(Options(Frames(10), BinaryMask()) with { Resumes = resumes }, _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<RpcException>(() => command.RunAsync(new FakeSegmentationClient(ending), CancellationToken.None));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal(1, calls);
        Assert.Contains($"Stopped: {answeredFirst} frames", _stderr.ToString());
    }

    [Fact]
    public async Task Replies_out_of_order_are_a_protocol_error()
    {
        FakeTrackHandler wrongIndex = async (requests, replies, ct) =>
        {
            await requests.ReadAsync(ct);
            await requests.ReadAsync(ct);
            await replies.WriteAsync(new TrackResponse { FrameIndex = 7 }, ct);
            await Task.Delay(Timeout.Infinite, ct);
        };
        var command = new TrackCommand(Options(Frames(3), BinaryMask()), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<TrackProtocolException>(() => command.RunAsync(new FakeSegmentationClient(wrongIndex), CancellationToken.None));

        Assert.Contains("frame 7 where frame 0 was due", ex.Message);
    }

    [Fact]
    public async Task A_stream_that_ends_early_is_a_protocol_error()
    {
        FakeTrackHandler quitter = async (requests, replies, ct) =>
        {
            await requests.ReadAsync(ct);
            await requests.ReadAsync(ct);
        };
        var command = new TrackCommand(Options(Frames(3), BinaryMask()), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<TrackProtocolException>(() => command.RunAsync(new FakeSegmentationClient(quitter), CancellationToken.None));

        Assert.Contains("before answering every frame", ex.Message);
    }

    [Fact]
    public async Task Cancellation_stops_the_stream()
    {
        FakeTrackHandler silent = (_, _, ct) => Task.Delay(Timeout.Infinite, ct);
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var command = new TrackCommand(Options(Frames(30), BinaryMask()), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => command.RunAsync(new FakeSegmentationClient(silent), cancellation.Token));

        Assert.True(ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled }, ex.ToString());
    }

    [Fact]
    public async Task Reads_a_video_and_writes_an_overlay()
    {
        var video = Video(5);
        var overlay = _temp.File("preview/overlay.mp4");
        var tracker = new FakeTracker();

        var exitCode = await Run(Options(video, BinaryMask()) with { Overlay = overlay, MaxFrames = 4 }, tracker);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(["00000", "00001", "00002", "00003"], Directory.GetFiles(_temp.File("out")).Select(Path.GetFileNameWithoutExtension).Order());
        using var capture = new VideoCapture(overlay);
        Assert.True(capture.IsOpened());
        Assert.Equal(4, capture.FrameCount);
        Assert.Equal(10, capture.Fps, precision: 1);
    }

    [Fact]
    public async Task Warns_about_prompts_that_match_no_frame()
    {
        var prompts = Path.Combine(_temp.Path, "prompts");
        Directory.CreateDirectory(prompts);
        File.Copy(BinaryMask(), Path.Combine(prompts, "00000.png"));
        File.Copy(BinaryMask(), Path.Combine(prompts, "frame-99.png"));

        await Run(Options(Frames(2), mask: null, prompts), new FakeTracker());

        Assert.Contains("prompt " + Path.Combine(prompts, "frame-99.png") + " matches no frame", _stderr.ToString());
    }

    [Fact]
    public async Task The_same_file_as_mask_and_prompt_is_sent_once()
    {
        var prompts = Path.Combine(_temp.Path, "prompts");
        Directory.CreateDirectory(prompts);
        var mask = Path.Combine(prompts, "00000.png");
        File.Copy(BinaryMask(), mask);
        var tracker = new FakeTracker();

        await Run(Options(Frames(2), mask, prompts), tracker);

        Assert.Single(tracker.Frames[0].Prompts);
    }

    [Theory]
    [InlineData(new string[0], "holds no .png masks")]
    [InlineData(new[] { "frame-99.png" }, "holds no mask named after a frame of --input")]
    public async Task Prompts_that_match_no_frame_of_a_folder_are_refused_before_anything_is_sent(string[] names, string message)
    {
        var prompts = Prompts(names);
        var client = new FakeSegmentationClient(new FakeTracker().Handle);
        var command = new TrackCommand(Options(Frames(3), mask: null, prompts), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<UsageException>(() => command.RunAsync(client, CancellationToken.None));

        Assert.Contains($"--prompts {prompts} {message}", ex.Message);
        Assert.Contains("e.g. 00000.png for the first frame", ex.Message);
        Assert.Null(client.ServerTask);
        Assert.False(Directory.Exists(_temp.File("out")));
    }

    [Fact]
    public async Task Prompts_that_match_no_frame_of_a_video_fail_the_run()
    {
        // A video's frame names are known only as it is read: the run goes on, then fails.
        var exitCode = await Run(Options(Video(3), mask: null, Prompts("frame-99.png")), new FakeTracker());

        Assert.Equal(ExitCodes.Failure, exitCode);
        Assert.Contains("matches no frame that was sent", _stderr.ToString());
        Assert.Contains("so no object was tracked", _stderr.ToString());
    }

    [Fact]
    public async Task A_failed_frame_with_prompts_stops_the_run()
    {
        var tracker = new FakeTracker { FailFrames = [2] };

        var ex = await Assert.ThrowsAsync<CliException>(() => Run(Options(Frames(12), BinaryMask(), Prompts("00002.png")), tracker));

        Assert.Equal("frame 2 (00002) carries prompts and failed on the server: INVALID_ARGUMENT (3): undecodable image; stopped", ex.Message);
        Assert.Contains("Stopped:", _stderr.ToString());
        Assert.False(File.Exists(Path.Combine(_temp.File("out"), "00003.png")));
    }

    [Theory]
    [InlineData(Width + 2, Height, false)]
    [InlineData(Width, Height - 2, false)]
    [InlineData(Width + 1, Height - 1, true)]  // one pixel off: the server pads or crops it
    [InlineData(Width - 1, Height + 1, true)]
    public async Task The_mask_is_held_to_the_servers_size_rule_before_anything_is_sent(int width, int height, bool accepted)
    {
        var mask = BinaryMask(width, height);
        var client = new FakeSegmentationClient(new FakeTracker().Handle);
        var command = new TrackCommand(Options(Frames(2), mask), _stderr, stderrIsTerminal: false);

        if (accepted)
        {
            Assert.Equal(ExitCodes.Success, await command.RunAsync(client, CancellationToken.None));
            return;
        }
        var ex = await Assert.ThrowsAsync<UsageException>(() => command.RunAsync(client, CancellationToken.None));
        Assert.Contains($"--mask {mask} is {width}x{height}, but the first frame 00000 is {Width}x{Height}", ex.Message);
        Assert.Null(client.ServerTask);
    }

    [Fact]
    public async Task A_prompt_with_ids_above_255_is_refused_before_anything_is_sent()
    {
        var prompts = Prompts("00000.png");
        var ids = new ushort[Width * Height];
        Array.Fill(ids, (ushort)300, 0, Width * 4);
        using (var image = Mat.FromPixelData(Height, Width, MatType.CV_16UC1, ids))
        {
            Cv2.ImWrite(Path.Combine(prompts, "00002.png"), image);
        }
        var client = new FakeSegmentationClient(new FakeTracker().Handle);
        var command = new TrackCommand(Options(Frames(4), mask: null, prompts), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<UsageException>(() => command.RunAsync(client, CancellationToken.None));

        Assert.Contains("00002.png holds object id 300", ex.Message);
        Assert.Contains("hold ids 1-255", ex.Message);
        Assert.Null(client.ServerTask);
    }

    [Fact]
    public async Task A_reply_of_no_pixels_is_a_bad_reply_for_its_frame()
    {
        FakeTrackHandler empty = async (requests, replies, ct) =>
        {
            await requests.ReadAsync(ct);
            var frame = await requests.ReadAsync(ct);
            await replies.WriteAsync(new TrackResponse { FrameIndex = frame.Frame.FrameIndex, Width = 0, Height = 0 }, ct);
            await Task.Delay(Timeout.Infinite, ct);
        };
        var command = new TrackCommand(Options(Frames(3), BinaryMask()), _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<TrackProtocolException>(() => command.RunAsync(new FakeSegmentationClient(empty), CancellationToken.None));

        Assert.Equal("the server's reply for frame 0 (00000) is bad: its size is 0x0", ex.Message);
    }

    [Fact]
    public async Task An_overlay_that_cannot_be_created_is_refused_before_anything_is_sent()
    {
        // Its folder would have to be under a file.
        var overlay = Path.Combine(_temp.Touch("blocked"), "overlay.mp4");
        var client = new FakeSegmentationClient(new FakeTracker().Handle);
        var command = new TrackCommand(Options(Frames(2), BinaryMask()) with { Overlay = overlay }, _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<UsageException>(() => command.RunAsync(client, CancellationToken.None));

        Assert.StartsWith($"--overlay {overlay}: cannot create the file: ", ex.Message);
        Assert.Null(client.ServerTask);
    }

    [Fact]
    public async Task An_overlay_check_leaves_no_file_behind()
    {
        var overlay = _temp.File("preview/overlay.mp4");
        FakeTrackHandler refuse = (_, _, _) => throw new RpcException(new Status(StatusCode.NotFound, "unknown model"));
        var command = new TrackCommand(Options(Frames(2), BinaryMask()) with { Overlay = overlay }, _stderr, stderrIsTerminal: false);

        await Assert.ThrowsAsync<RpcException>(() => command.RunAsync(new FakeSegmentationClient(refuse), CancellationToken.None));

        Assert.False(File.Exists(overlay));
    }

    [Fact]
    public async Task An_output_folder_that_cannot_be_created_names_the_option()
    {
        var output = Path.Combine(_temp.Touch("blocked"), "out");
        var command = new TrackCommand(Options(Frames(2), BinaryMask()) with { Output = output }, _stderr, stderrIsTerminal: false);

        var ex = await Assert.ThrowsAsync<CliException>(() => command.RunAsync(new FakeSegmentationClient(new FakeTracker().Handle), CancellationToken.None));

        Assert.StartsWith($"--output {output}: cannot create the folder: ", ex.Message);
    }
}
