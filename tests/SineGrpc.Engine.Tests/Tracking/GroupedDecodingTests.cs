using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

/// <summary>
/// The small embedded model twice: as built (with its grouped decoder, which answers every
/// group of objects in one run) and as a dense bundle without one (a run per group).
/// </summary>
public sealed class GroupedAndPerGroupModelsFixture : IDisposable
{
    private readonly SmallDenseModelFixture _built = new();
    private readonly string _perGroupFolder = Path.Combine(Path.GetTempPath(), "sinegrpc-per-group-" + Guid.NewGuid().ToString("N"));

    public GroupedAndPerGroupModelsFixture()
    {
        var folder = Grouped.Folder;
        Directory.CreateDirectory(_perGroupFolder);
        foreach (var file in Directory.GetFiles(folder))
            File.Copy(file, Path.Combine(_perGroupFolder, Path.GetFileName(file)));
        (Grouped.Manifest with { Files = Grouped.Manifest.Files with { GroupedDecoder = null } }).Write(Path.Combine(_perGroupFolder, "model.json"));
        var options = Options.Create(new EngineOptions
        {
            Device = "cpu",
            OnnxRuntime = new OnnxRuntimeOptions { SessionsPerComponent = 1, MaxConcurrentRunsPerSession = 1 },
        });
        PerGroup = LoadedModel.Load(_perGroupFolder, new SessionFactory(options, NullLogger<SessionFactory>.Instance), maxPromptedFrames: 8);
    }

    public LoadedModel Grouped => _built.Model;
    public LoadedModel PerGroup { get; }

    public void Dispose()
    {
        PerGroup.Dispose();
        _built.Dispose();
        Directory.Delete(_perGroupFolder, recursive: true);
    }
}

/// <summary>Objects that joined on different frames: one decoder run answers them all, as one run per group would.</summary>
public sealed class GroupedDecodingTests(GroupedAndPerGroupModelsFixture models) : IClassFixture<GroupedAndPerGroupModelsFixture>
{
    private const int Width = 128, Height = 96, Frames = 10;

    // Objects 1, 2 and 3 join on frames 0, 2 and 4: from frame 5 on there are three groups.
    private static PromptMask[] PromptsOn(int frame) => frame switch
    {
        0 => [new PromptMask(1, Box(8, 8, 40, 40))],
        2 => [new PromptMask(2, Box(80, 8 + 2, 40, 40))],
        4 => [new PromptMask(3, Box(40 + 4, 56, 48, 36))],
        _ => [],
    };

    [Fact]
    public async Task Groups_decoded_in_one_run_give_what_one_run_per_group_gives()
    {
        using var grouped = new TrackSession(models.Grouped, models.Grouped.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));
        using var perGroup = new TrackSession(models.PerGroup, models.PerGroup.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));
        var groupedDecoder = models.Grouped.GroupedDecoder!;
        Assert.Null(models.PerGroup.GroupedDecoder);

        for (var frame = 0; frame < Frames; frame++)
        {
            var (plainRuns, groupedRuns) = (models.Grouped.Decoder.Runs, groupedDecoder.Runs);
            var perGroupRuns = models.PerGroup.Decoder.Runs;
            using var together = await Frame(grouped, frame);
            using var apart = await Frame(perGroup, frame);

            // A prompt's own frame decodes only the objects known before it. One group takes a
            // plain run; more take one grouped run.
            var groups = frame switch { 0 => 0, < 3 => 1, < 5 => 2, _ => 3 };
            Assert.Equal(groups == 1 ? 1 : 0, models.Grouped.Decoder.Runs - plainRuns);
            Assert.Equal(groups > 1 ? 1 : 0, groupedDecoder.Runs - groupedRuns);
            Assert.Equal(groups, models.PerGroup.Decoder.Runs - perGroupRuns);

            Assert.Equal(apart.Objects.Select(o => o.ObjectId), together.Objects.Select(o => o.ObjectId));
            for (var i = 0; i < apart.Objects.Count; i++)
            {
                var (a, b) = (apart.Objects[i], together.Objects[i]);
                Assert.Equal(a.Score, b.Score, 1e-4f);
                // Float rounding may flip a pixel whose probability sits at the threshold; no more.
                var differing = a.MaskArray().Zip(b.MaskArray()).Count(p => p.First != p.Second);
                Assert.True(differing <= Width * Height / 1000, $"frame {frame}, object {a.ObjectId}: {differing} pixels differ");
                Assert.True(a.Stats.Area > 0, $"frame {frame}, object {a.ObjectId} was lost");
            }
        }
    }

    // A decoder that wants other inputs than the service feeds would fail on every frame.
    [Theory]
    [InlineData("decoder_groups.onnx", "decoder.onnx", "decoder_groups.onnx takes inputs [features, memory_features, memory_labels, memory_visible]; the service feeds it [features, memory_features, memory_labels]")]
    [InlineData("decoder.onnx", "decoder.onnx", "decoder.onnx takes inputs [features, memory_features, memory_labels]; the service feeds it [features, memory_features, memory_labels, memory_visible]")]
    public void A_dense_bundle_whose_decoders_take_other_inputs_is_refused_at_load(string decoder, string groupedDecoder, string expected)
    {
        var folder = Directory.CreateTempSubdirectory("sinegrpc-bad-decoder-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(models.Grouped.Folder))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            var manifest = models.Grouped.Manifest;
            (manifest with { Files = manifest.Files with { Decoder = decoder, GroupedDecoder = groupedDecoder } }).Write(Path.Combine(folder, "model.json"));
            var sessions = new SessionFactory(Options.Create(new EngineOptions { Device = "cpu" }), NullLogger<SessionFactory>.Instance);

            var error = Assert.Throws<InvalidDataException>(() => LoadedModel.Load(folder, sessions, maxPromptedFrames: 8));

            Assert.Contains(expected, error.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<FrameResult> Frame(TrackSession session, int index)
    {
        using var image = Image(index);
        return await session.ProcessFrameAsync(new FrameInput(image, PromptsOn(index), []));
    }

    // Three textured boxes drifting over a textured background.
    private static Mat Image(int index)
    {
        var image = new Mat(Height, Width, MatType.CV_8UC3);
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
                image.Set(y, x, new Vec3b((byte)(20 + (x * 7 + y * 3) % 40), (byte)(30 + (x * y) % 30), 40));
        }
        Cv2.Rectangle(image, new Rect(8 + index, 8, 40, 40), new Scalar(40, 200, 240), -1);
        Cv2.Rectangle(image, new Rect(80, 8 + index, 40, 40), new Scalar(220, 60, 60), -1);
        Cv2.Rectangle(image, new Rect(40 + index, 56, 48, 36), new Scalar(60, 220, 90), -1);
        return image;
    }

    private static byte[] Box(int left, int top, int width, int height)
    {
        var mask = new byte[Width * Height];
        for (var y = top; y < top + height; y++)
            mask.AsSpan(y * Width + left, width).Fill(1);
        return mask;
    }
}
