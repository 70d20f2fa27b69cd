using Sine.V1;
using SineGrpc.Client.Tests.Support;
using SineGrpc.Engine.Masks;

namespace SineGrpc.Server.Tests;

/// <summary>
/// The many-object stress clip of ../shared/data (aot-demo: 44 objects on a 1080p frame, some
/// of them a few dozen pixels) through the embedded model on a server with the default limits,
/// as a client streams it.
/// </summary>
[Trait("Category", "SharedData")]
public sealed class ManyObjectsVideoTests : IAsyncLifetime
{
    private const int Frames = 8;
    private const int Objects = 44;
    private OwnServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await OwnServer.StartAsync("many-objects-video", new Dictionary<string, string?> { ["Engine:EnableEmbeddedModel"] = "true" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Forty_four_objects_on_1080p_frames_are_tracked_with_the_default_limits()
    {
        var images = SharedData.Path("aot-demo", "images", "1001_3iEIq5HBY1s");
        var first = SharedData.Path("aot-demo", "masks", "1001_3iEIq5HBY1s", "00002058.png");
        var promptPng = File.ReadAllBytes(first);
        var prompt = MaskPng.Decode(promptPng, long.MaxValue);
        Assert.Equal((1920, 1080), (prompt.Width, prompt.Height));
        var jpegs = Directory.GetFiles(images, "*.jpg").Order(StringComparer.Ordinal).Take(Frames).Select(File.ReadAllBytes).ToList();
        // The palette PNG as the CLI sends it: one index mask, object_id 0.
        var requests = jpegs.Select((jpeg, t) => TrackClient.Frame((ulong)t, jpeg, t == 0 ? [TrackClient.PngPrompt(0, promptPng)] : []));

        var replies = await TrackClient.RunAsync(new Segmentation.SegmentationClient(_server.Channel), [TrackClient.Start(layout: MaskLayout.Index), .. requests]);

        Assert.Equal(Frames, replies.Count);
        Assert.All(replies, r => Assert.Null(r.Error));
        Assert.All(replies, r => Assert.Equal(Enumerable.Range(1, Objects).Select(id => (uint)id), r.Objects.Select(o => o.ObjectId)));
        // The prompted frame answers the prompt itself, every object on its own pixels.
        Assert.Equal(prompt.Values, MaskPng.Decode(replies[0].IndexMask.Span, long.MaxValue).Values);
        for (var id = 1; id <= Objects; id++)
        {
            var area = prompt.Values.Count(v => v == id);
            Assert.Equal((ulong)area, replies[0].Objects[id - 1].Area);
            Assert.Equal(area, TrackClient.Decode(replies[0].Objects[id - 1]).Count(v => v != 0));
        }
        // The large objects (1% of the frame or more) are still there on every frame.
        var large = Enumerable.Range(1, Objects).Where(id => prompt.Values.Count(v => v == id) >= 20_000).ToList();
        Assert.True(large.Count >= 5, $"{large.Count} large objects");
        foreach (var reply in replies.Skip(1))
            Assert.All(large, id => Assert.True(reply.Objects[id - 1].Area > 0, $"frame {reply.FrameIndex}: object {id} was lost"));
    }

    [Fact]
    public async Task Segment_answers_forty_four_labels_on_a_1080p_target_with_the_default_limits()
    {
        var images = SharedData.Path("aot-demo", "images", "1001_3iEIq5HBY1s");
        var promptPng = File.ReadAllBytes(SharedData.Path("aot-demo", "masks", "1001_3iEIq5HBY1s", "00002058.png"));
        Image Frame(string name) => new() { Encoded = Google.Protobuf.ByteString.CopyFrom(File.ReadAllBytes(Path.Combine(images, name))) };
        var request = new SegmentRequest
        {
            References = { new Reference { Image = Frame("00002058.jpg"), Prompts = { TrackClient.PngPrompt(0, promptPng) } } },
            Target = Frame("00002065.jpg"),
        };

        var reply = await new Segmentation.SegmentationClient(_server.Channel).SegmentAsync(request);

        Assert.Equal(Enumerable.Range(1, Objects).Select(id => (uint)id), reply.Objects.Select(o => o.ObjectId));
        Assert.Equal(reply.Objects.Select(o => o.Mask), reply.Semantic.Select(o => o.Mask));
        // The budget left beside the two planes the labels share: 67108864 / (1920 x 1080) - 2 = 30 instances at most.
        Assert.InRange(reply.Instances.Count, 1, 30);
        Assert.Equal(reply.Instances.Select(i => i.Score).OrderByDescending(x => x), reply.Instances.Select(i => i.Score));
    }
}
