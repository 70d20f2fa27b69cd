using Grpc.Core;
using OpenCvSharp;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using SineGrpc.Client.Segmenting;
using SineGrpc.Client.Tests.Support;
using Sine.V1;

namespace SineGrpc.Client.Tests.Segmenting;

public sealed class SegmentCommandTests : IDisposable
{
    // A 4x2 target: object 1 in the left half, object 2 in the right half, and one pixel both claim.
    private const int Width = 4;
    private const int Height = 2;
    private static readonly byte[] Left = [1, 1, 1, 0, 1, 1, 0, 0];
    private static readonly byte[] Right = [0, 0, 1, 1, 0, 0, 1, 1];

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Sends_each_reference_with_its_mask_and_writes_the_three_outputs()
    {
        var reply = Reply();
        var client = new FakeSegmentClient(reply);
        var options = Options(threshold: 0.25f, maxInstances: 7);
        var stdout = new StringWriter();

        var exitCode = await new SegmentCommand(options, stdout, new StringWriter()).RunAsync(client, CancellationToken.None);

        Assert.Equal(ExitCodes.Success, exitCode);
        var request = Assert.Single(client.Requests);
        Assert.Equal("m", request.Model);
        Assert.Equal(0.25f, request.InstanceScoreThreshold);
        Assert.Equal(7u, request.MaxInstances);
        Assert.Equal(File.ReadAllBytes(options.Target), request.Target.Encoded.ToByteArray());
        Assert.Equal(2, request.References.Count);
        for (var r = 0; r < 2; r++)
        {
            Assert.Equal(File.ReadAllBytes(options.References[r].Image), request.References[r].Image.Encoded.ToByteArray());
            var prompt = Assert.Single(request.References[r].Prompts);
            Assert.Equal(File.ReadAllBytes(options.References[r].Mask), prompt.Mask.Png.ToByteArray());
        }
        // A 0/255 grayscale mask is object 1; a palette mask is an index mask (object_id 0).
        Assert.Equal(1u, request.References[0].Prompts[0].ObjectId);
        Assert.Equal(0u, request.References[1].Prompts[0].ObjectId);

        // Where object 1 (score 0.9) and object 2 (score 0.6) overlap, the higher score wins.
        Assert.Equal([1, 1, 1, 2, 1, 1, 2, 2], ReadPng("objects.png"));
        // Semantic: here label 2 scores higher, so it takes the shared pixel.
        Assert.Equal([1, 1, 2, 2, 1, 1, 2, 2], ReadPng("semantic.png"));
        Assert.Equal([0, 0, 2, 2, 0, 0, 2, 2], ReadPng("instance-001.png"));
        Assert.Equal([1, 1, 1, 0, 1, 1, 0, 0], ReadPng("instance-002.png"));

        var text = stdout.ToString();
        Assert.Contains("1   0.9    5     0,0 3x2", text);
        Assert.Contains("1  2      0.8    4     2,0 2x2  instance-001.png", text);
        Assert.Contains("instances (2 scoring above 0.25, best first)", text);
        Assert.Contains($"wrote objects.png, semantic.png and 2 instance masks to {options.Output}", text);
    }

    [Fact]
    public async Task Instances_of_an_earlier_run_are_removed_and_ids_over_255_are_left_out_with_a_warning()
    {
        var reply = Reply();
        reply.Instances.Add(Instance(300, 0.3f, Left));
        var stale = _temp.Touch(Path.Combine("out", "instance-009.png"), [1, 2, 3]);
        var keep = _temp.Touch(Path.Combine("out", "notes.txt"), [1]);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var exitCode = await new SegmentCommand(Options(), stdout, stderr).RunAsync(new FakeSegmentClient(reply), CancellationToken.None);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(keep));
        Assert.False(File.Exists(_temp.File(Path.Combine("out", "instance-003.png"))));
        Assert.Contains("3  300    0.3    5     0,0 3x2  -", stdout.ToString());
        Assert.Contains("object id 300 does not fit an 8-bit index mask", stderr.ToString());
    }

    [Fact]
    public async Task A_reply_whose_masks_do_not_match_its_size_is_a_clear_failure()
    {
        var reply = Reply();
        reply.Instances[0].Mask = new Mask { Rle = TestRleEncoder.Encode([1, 0], 2, 1) };

        var error = await Assert.ThrowsAsync<CliException>(() =>
            new SegmentCommand(Options(), new StringWriter(), new StringWriter()).RunAsync(new FakeSegmentClient(reply), CancellationToken.None));

        Assert.Equal("the server's Segment reply is bad: instance 1's mask is 2x1, but the reply's masks are 4x2", error.Message);
    }

    [Fact]
    public async Task No_instances_are_reported_as_none()
    {
        var reply = Reply();
        reply.Instances.Clear();
        var stdout = new StringWriter();

        await new SegmentCommand(Options(), stdout, new StringWriter()).RunAsync(new FakeSegmentClient(reply), CancellationToken.None);

        Assert.Contains("instances: none scoring above 0.5", stdout.ToString());
        Assert.Contains("and 0 instance masks", stdout.ToString());
    }

    private SegmentOptions Options(float threshold = SegmentOptions.DefaultThreshold, int? maxInstances = null)
    {
        var binary = _temp.Touch("ref0.png", GrayPng([255, 255, 0, 0, 255, 0, 0, 0]));
        var palette = _temp.Touch("ref1.png", PalettePngWriter.Encode(Width, Height, [0, 2, 2, 0, 0, 2, 0, 0], DavisPalette.Colors));
        return new SegmentOptions
        {
            References = [new ReferenceFiles(_temp.Touch("a.jpg", [1, 2, 3]), binary), new ReferenceFiles(_temp.Touch("b.webp", [4, 5]), palette)],
            Target = _temp.Touch("t.png", [6, 7, 8, 9]),
            Output = _temp.File("out"),
            Server = new Uri("http://localhost:5000"),
            Model = "m",
            Threshold = threshold,
            MaxInstanceCount = maxInstances,
        };
    }

    private static byte[] GrayPng(byte[] pixels)
    {
        using var image = Mat.FromPixelData(Height, Width, MatType.CV_8UC1, pixels);
        Cv2.ImEncode(".png", image, out var png);
        return png;
    }

    private byte[] ReadPng(string name) => DecodedPalettePng.Decode(File.ReadAllBytes(Path.Combine(_temp.File("out"), name))).Indices;

    private static SegmentResponse Reply() => new()
    {
        Width = Width,
        Height = Height,
        Objects = { Object(1, 0.9f, Left), Object(2, 0.6f, Right) },
        Semantic = { Object(1, 0.5f, Left), Object(2, 0.7f, Right) },
        Instances = { Instance(2, 0.8f, Right), Instance(1, 0.75f, Left) },
        Timings = new StageTimings { TotalMs = 12 },
    };

    private static ObjectMask Object(uint id, float score, byte[] mask) => new()
    {
        ObjectId = id,
        Score = score,
        Mask = new Mask { Rle = TestRleEncoder.Encode(mask, Width, Height) },
        Area = (ulong)mask.Count(v => v != 0),
        Box = Box(mask),
    };

    private static Instance Instance(uint label, float score, byte[] mask) => new()
    {
        Label = label,
        Score = score,
        Mask = new Mask { Rle = TestRleEncoder.Encode(mask, Width, Height) },
        Area = (ulong)mask.Count(v => v != 0),
        Box = Box(mask),
    };

    private static BoundingBox Box(byte[] mask)
    {
        var xs = Enumerable.Range(0, mask.Length).Where(i => mask[i] != 0).Select(i => i % Width).ToList();
        var ys = Enumerable.Range(0, mask.Length).Where(i => mask[i] != 0).Select(i => i / Width).ToList();
        return new BoundingBox { X = (uint)xs.Min(), Y = (uint)ys.Min(), Width = (uint)(xs.Max() - xs.Min() + 1), Height = (uint)(ys.Max() - ys.Min() + 1) };
    }

    /// <summary>Answers every Segment call with one reply and keeps the requests.</summary>
    private sealed class FakeSegmentClient(SegmentResponse reply) : Segmentation.SegmentationClient
    {
        public List<SegmentRequest> Requests { get; } = [];

        public override AsyncUnaryCall<SegmentResponse> SegmentAsync(SegmentRequest request, CallOptions options)
        {
            Requests.Add(request);
            return new AsyncUnaryCall<SegmentResponse>(Task.FromResult(reply), Task.FromResult(new Metadata()),
                () => Status.DefaultSuccess, () => [], () => { });
        }
    }
}
