using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Models.Embedded;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

/// <summary>A small embedded (dense) model, loaded once for the class: layer3 at stride 16, 128-pixel input.</summary>
public sealed class SmallDenseModelFixture : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "sinegrpc-dense-state-" + Guid.NewGuid().ToString("N"));

    public SmallDenseModelFixture()
    {
        var folder = EmbeddedModel.EnsureBuilt(_cache, NullLogger.Instance,
            new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer3, Stride = 16, InputSize = 128 });
        // One decoder run at a time, so that a test can hold the decoder and make a frame wait for it.
        var options = Options.Create(new EngineOptions
        {
            Device = "cpu",
            OnnxRuntime = new OnnxRuntimeOptions { SessionsPerComponent = 1, MaxConcurrentRunsPerSession = 1 },
        });
        Model = LoadedModel.Load(folder, new SessionFactory(options, NullLogger<SessionFactory>.Instance), maxPromptedFrames: 8);
    }

    public LoadedModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        Directory.Delete(_cache, recursive: true);
    }
}

/// <summary>What a dense (label propagation) stream keeps between frames when objects come and go.</summary>
public sealed class DenseStreamStateTests(SmallDenseModelFixture fixture) : IClassFixture<SmallDenseModelFixture>
{
    private const int Width = 128, Height = 96;

    // Frames that once held a removed object are read by nobody once every object that
    // could read them is gone: a new object must start as on a fresh stream, with the
    // memory's slots for its own predictions, not behind predictions of objects it never saw.
    [Fact]
    public async Task A_new_object_after_every_object_was_removed_starts_as_on_a_fresh_stream()
    {
        var model = fixture.Model;
        using var reused = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));
        using var fresh = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));

        for (var frame = 0; frame <= 5; frame++)
            (await Frame(reused, frame, frame == 0 ? [new PromptMask(1, Square(0))] : [])).Dispose();
        var withEarlierFrames = reused.MemoryBytes;
        (await Frame(reused, 6, [], removed: [1])).Dispose();
        Assert.Empty(reused.ObjectIds);

        for (var step = 0; step <= 3; step++)
        {
            PromptMask[] prompts = step == 0 ? [new PromptMask(2, Square(0))] : [];
            using var again = await Frame(reused, step, prompts);
            using var first = await Frame(fresh, step, prompts);
            Assert.Equal([2], again.Objects.Select(o => o.ObjectId));
            Assert.Equal(first.Objects[0].MaskArray(), again.Objects[0].MaskArray());
            Assert.Equal(fresh.MemoryBytes, reused.MemoryBytes);
        }
        Assert.True(withEarlierFrames > reused.MemoryBytes, $"{withEarlierFrames} bytes with six frames, {reused.MemoryBytes} now");
    }

    // A frame that fails after it was checked (a decoder error: the service answers the
    // frame with an error and the stream goes on) must not leave the object it prompted
    // tracked without its prompt: that object would be reported, empty, on every frame.
    [Fact]
    public async Task A_frame_that_fails_in_the_decoder_does_not_leave_its_new_object_tracked_without_a_prompt()
    {
        var model = fixture.Model;
        using var session = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));
        (await Frame(session, 0, [new PromptMask(1, Square(0))])).Dispose();
        (await Frame(session, 1, [])).Dispose();

        using (var cancellation = new CancellationTokenSource())
        {
            Task<FrameResult> failing;
            using (await model.Decoder.LeaseAsync())     // the only decoder run slot: the frame waits for it
            {
                var encoderRuns = model.Encoder.Runs;
                failing = Frame(session, 2, [new PromptMask(2, Square(40))], cancellationToken: cancellation.Token);
                while (model.Encoder.Runs == encoderRuns && !failing.IsCompleted)
                    await Task.Delay(10);
                await Task.Delay(100);
                await cancellation.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => failing);
            }
        }

        Assert.Equal([1], session.ObjectIds);
        using var next = await Frame(session, 2, []);
        Assert.Equal([1], next.Objects.Select(o => o.ObjectId));
    }

    // The resize to the model's input can lose a prompt of a few pixels. Refusing it cost the
    // client the whole frame; anchoring it as it came (no label mass) left an object no cell
    // of memory labels. It is anchored as the feature cell around it, as on the token model.
    [Fact]
    public async Task A_prompt_the_resize_loses_is_anchored_as_the_cell_around_it()
    {
        var model = fixture.Model;
        using var session = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));

        // 320x240 is resized to 128x96 bilinearly, reading source columns and rows near
        // 0.75 + 2.5 k: pixel (2, 2) lies between samples, so the prompt vanishes there.
        using var large = new Mat(240, 320, MatType.CV_8UC3, new Scalar(40, 90, 200));
        var square = new byte[320 * 240];
        for (var y = 100; y < 160; y++)
            square.AsSpan(y * 320 + 200, 60).Fill(1);
        var lost = new byte[320 * 240];
        lost[2 * 320 + 2] = 1;
        Assert.Equal(0f, Coverage(model, lost).Sum());

        using (var prompted = await session.ProcessFrameAsync(new FrameInput(large, [new PromptMask(1, square), new PromptMask(2, lost)], [])))
            Assert.Equal([1, 2], prompted.Objects.Select(o => o.ObjectId));
        using var next = await session.ProcessFrameAsync(new FrameInput(large, [], []));

        Assert.Equal([1, 2], next.Objects.Select(o => o.ObjectId));
        Assert.Equal([1, 2], session.ObjectIds);
    }

    // The prompt's share of each feature cell as the bilinear resize alone gives it.
    private static float[] Coverage(LoadedModel model, byte[] mask)
    {
        var g = InputGeometry.For(model.Manifest, 320, 240);
        using var preprocessor = new Preprocessor(model.Manifest);
        var input = new float[g.PaddedWidth * g.PaddedHeight];
        preprocessor.MaskToInput(mask, 320, 240, g, input);
        var cells = new float[g.FeatureWidth * g.FeatureHeight];
        Preprocessor.AreaDownsample(input, g.PaddedWidth, g.PaddedHeight, g.FeatureStride, cells);
        return cells;
    }

    // The first frame fixes the feature grid every later frame must give, but only once it
    // is served: a refused first frame of another shape must not refuse the frames after it.
    [Fact]
    public async Task A_refused_first_frame_does_not_fix_the_streams_frame_size()
    {
        var model = fixture.Model;
        using var session = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));

        // Portrait 240x320 with an empty prompt (the server refuses one before the engine sees it).
        using var portrait = new Mat(320, 240, MatType.CV_8UC3, new Scalar(40, 90, 200));
        await Assert.ThrowsAsync<InvalidInputException>(() =>
            session.ProcessFrameAsync(new FrameInput(portrait, [new PromptMask(1, new byte[240 * 320])], [])));

        using var first = await Frame(session, 0, [new PromptMask(1, Square(0))]);
        using var next = await Frame(session, 1, []);
        Assert.Equal([1], next.Objects.Select(o => o.ObjectId));
    }

    // A re-prompt corrects drift: the anchor it makes must hold the object where the prompt
    // puts it and nowhere else, also when other objects are decoded on that frame.
    [Fact]
    public void A_prompt_replaces_its_objects_decoded_labels_everywhere_on_its_frame()
    {
        // Four cells; labels [background, object in channel 1, object in channel 2].
        float[] labels =
        [
            0.2f, 0.1f, 0.6f, 1f,   // background
            0.3f, 0.1f, 0.4f, 0f,   // channel 1, not prompted: as decoded, but where the prompt takes its share
            0.5f, 0.8f, 0f, 0f,     // channel 2, decoded on cells 0 and 1 (its drift), prompted on cells 2 and 3
        ];
        float[] coverage = [0f, 0f, 1f, 0.5f];

        DenseTracker.PaintPrompts(coverage, [2], labelCount: 3, labels);

        // Channel 2's decoded mass went to the background; then cell 2 is all the prompt's,
        // and cell 3 half (the rest keeps its proportions).
        float[] expected =
        [
            0.7f, 0.9f, 0f, 0.5f,
            0.3f, 0.1f, 0f, 0f,
            0f, 0f, 1f, 0.5f,
        ];
        Assert.Equal(expected, labels, (a, b) => Math.Abs(a - b) < 1e-6f);
    }

    // The memory keeps frames by their scores: scored at the output size, a stream asking
    // for smaller masks would remember other frames than one asking for full-size masks.
    [Fact]
    public async Task Scores_and_so_the_memory_do_not_depend_on_the_output_size()
    {
        var model = fixture.Model;
        using var full = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));
        using var small = new TrackSession(model, model.DefaultPolicy, new OutputSpec(37, 0, Exclusive: false));
        for (var frame = 0; frame < 8; frame++)
        {
            PromptMask[] prompts = frame == 0 ? [new PromptMask(1, Square(0))] : [];
            using var large = await Frame(full, frame, prompts);
            using var reduced = await Frame(small, frame, prompts);
            Assert.Equal((37, 28), (reduced.Width, reduced.Height));
            Assert.Equal(large.Objects[0].Score, reduced.Objects[0].Score);
            if (frame > 0)
                Assert.InRange(large.Objects[0].Score, 0.01f, 0.999f);   // a prediction's, not a prompt's 1
        }
    }

    private static async Task<FrameResult> Frame(TrackSession session, int index, PromptMask[] prompts, int[]? removed = null,
        CancellationToken cancellationToken = default)
    {
        using var image = Image(index);
        return await session.ProcessFrameAsync(new FrameInput(image, prompts, removed ?? []), cancellationToken);
    }

    // A bright square moving right over a dark, textured background.
    private static Mat Image(int index)
    {
        var image = new Mat(Height, Width, MatType.CV_8UC3);
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
                image.Set(y, x, new Vec3b((byte)(20 + (x * 7 + y * 3) % 40), (byte)(30 + (x * y) % 30), 40));
        }
        var left = 16 + 4 * index;
        Cv2.Rectangle(image, new Rect(left, 24, 40, 40), new Scalar(40, 200, 240), -1);
        return image;
    }

    private static byte[] Square(int offset)
    {
        var mask = new byte[Width * Height];
        for (var y = 24; y < 64; y++)
            mask.AsSpan(y * Width + 16 + offset, 40).Fill(1);
        return mask;
    }
}
